// Fuzzes the decoder of Consul user events, the msgpack payload of a "consul:event:<name>" Serf
// event as it arrives from any LAN peer, and the filter matching that follows it. Whatever
// decodes must re-encode to something that decodes to the same event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "client/user_events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gangway::client;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto e = DecodeUserEvent(bytes);
  if (!e.ok()) return 0;
  (void)MatchesFilters(*e, "node-1", {{"web", {"v1", "primary"}}, {"db", {}}});
  (void)UuidToUint64(e->id);
  auto again = DecodeUserEvent(EncodeUserEvent(*e));
  if (!again.ok()) std::abort();
  // An empty payload is omitted on the wire, like Go's omitempty.
  UserEvent want = *e;
  if (want.payload && want.payload->empty()) want.payload.reset();
  if (!(*again == want)) std::abort();
  return 0;
}
