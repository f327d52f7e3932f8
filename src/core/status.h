// Status and Result<T>: errors as values. Cheap on success (no allocation), carries a code and a
// human-readable message on failure. Plain value types; any thread.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace gangway {

// Values travel in RPC error frames (docs/rpc.md): append only, never renumber.
enum class Code {
  kOk = 0,
  kInvalidArgument,   // bad input from a user or peer: 400
  kNotFound,          // 404
  kConflict,          // CAS failure and the like
  kPermissionDenied,  // 403
  kUnavailable,       // the service cannot answer now: 500
  kMethodNotAllowed,  // 405
  kTooLarge,          // 413
  kInternal,          // 500
  kNoLeader,          // no Raft leader (yet): 500 "No cluster leader"; retried while held
  kRateLimited,       // over a configured rate: 429
  kPeerUnreachable,   // dialling, writing to or hearing from a peer failed: 500; retried
};
inline constexpr Code kLastCode = Code::kPeerUnreachable;

// [[nodiscard]]: a Status nobody looks at is an error nobody handles. Where dropping one is
// right, say so: `(void)` with a comment why.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
// Consul's text, which clients match.
inline Status NoLeader() { return {Code::kNoLeader, "No cluster leader"}; }
inline Status RateLimited(std::string m) { return {Code::kRateLimited, std::move(m)}; }
inline Status PeerUnreachable(std::string m) { return {Code::kPeerUnreachable, std::move(m)}; }

// Result<T> holds either a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result() : v_(Status(Code::kInternal, "result not set")) {}
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace gangway
