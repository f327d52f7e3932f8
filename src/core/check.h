// Invariant checks: GANGWAY_CHECK(cond) << "context" stops the process with the file, line, the
// condition and the context when an invariant the code relies on does not hold. For broken
// invariants only: never for network, file or API input (those return a Status). Any thread.
// GANGWAY_ASSERT is the same check compiled only into debug builds (NDEBUG unset), for checks on
// hot paths.
#pragma once

#include <sstream>
#include <string_view>

namespace gangway::internal {

// Collects the message of a failed check and aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(std::string_view file, int line, std::string_view condition);
  [[noreturn]] ~CheckFailure();
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Lets the macro below be an expression whose both branches have type void.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace gangway::internal

#define GANGWAY_CHECK(condition)                 \
  (condition) ? (void)0                          \
              : ::gangway::internal::Voidify() & \
                    ::gangway::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()

#ifdef NDEBUG
// Type-checked, never evaluated.
#define GANGWAY_ASSERT(condition) \
  while (false) GANGWAY_CHECK(condition)
#else
#define GANGWAY_ASSERT(condition) GANGWAY_CHECK(condition)
#endif
