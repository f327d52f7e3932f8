#include "core/check.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace gangway::internal {

CheckFailure::CheckFailure(std::string_view file, int line, std::string_view condition) {
  stream_ << "check failed: " << condition << " at " << file << ":" << line << " ";
}

CheckFailure::~CheckFailure() {
  std::string text = stream_.str();
  text += "\n";
  // One write(2), so that lines from other threads do not interleave with it.
  (void)!::write(STDERR_FILENO, text.data(), text.size());
  std::abort();
}

}  // namespace gangway::internal
