// Fuzz target for the session create body (PUT /v1/session/create): decoded over the agent's
// defaults, then validated as Session.Apply does. Beyond "no crash", it checks what callers rely
// on: a failure is "Request decode failed: ..."; a decoded session renders as API JSON that
// dump()s; and one that validates survives the log command's encoding unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "catalog/commands.h"
#include "catalog/json.h"
#include "catalog/session_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gangway::catalog;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto s = DecodeSessionCreate(body, "agent-node");
  if (!s.ok()) {
    if (s.status().message().rfind("Request decode failed: ", 0) != 0) std::abort();
    (void)Json(s.status().message()).dump();
    return 0;
  }
  (void)SessionToJson(*s).dump();
  if (gangway::Status v = ValidateSession(&*s); !v.ok()) {
    (void)Json(v.message()).dump();
    return 0;
  }
  if (s->behavior != kSessionBehaviorRelease && s->behavior != kSessionBehaviorDelete) std::abort();
  (void)SessionTTL(*s);
  s->id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  SessionRequest req{SessionOp::kCreate, *s};
  auto back = DecodeCommand(EncodeCommand(req));
  if (!back.ok()) std::abort();
  const auto* got = std::get_if<SessionRequest>(&*back);
  if (got == nullptr || !(got->session == *s)) std::abort();
  return 0;
}
