// Consul's user events as an agent sees them: the event record and its msgpack encoding (the
// payload of the Serf user event "consul:event:<name>"), the node/service/tag filters, and the
// buffer of the last 256 events that passed them, which /v1/event/list reads and blocks on.
// Owned by the agent's composition root; loop thread only. The codec and filter functions are
// pure and may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gangway::client {

// Serf event names of Consul user events carry this prefix; the rest is the user's name.
inline constexpr std::string_view kUserEventPrefix = "consul:event:";
// The highest event version we understand (Consul's userEventMaxVersion).
inline constexpr int kUserEventVersion = 1;
// How many events an agent keeps (Consul: 256).
inline constexpr size_t kUserEventBufferSize = 256;
// Consul's remote-exec event name; gangway does not run remote commands.
inline constexpr std::string_view kRemoteExecName = "_rexec";

// One user event (Consul's agent.UserEvent). The msgpack form carries everything but ltime,
// which comes from Serf's Lamport clock when the event is received.
struct UserEvent {
  std::string id;  // a random UUID
  std::string name;
  std::optional<std::string> payload;  // none: no payload (JSON null)
  std::string node_filter;
  std::string service_filter;
  std::string tag_filter;
  int64_t version = kUserEventVersion;
  uint64_t ltime = 0;

  friend bool operator==(const UserEvent&, const UserEvent&) = default;
};

// Msgpack map as Consul's codec writes it: "ID", "n", "p" (omitted when empty), "nf", "sf",
// "tf" (each omitted when empty), "v".
std::string EncodeUserEvent(const UserEvent& event);
// Decodes bytes from the network. Unknown keys are skipped; the ID must be a UUID (the list
// endpoint derives its index from it); the name must not be empty.
Result<UserEvent> DecodeUserEvent(std::string_view bytes);

// Checks a user's event before it is fired: a name, a tag filter only with a service filter,
// and filters that compile. Messages are Consul's ("User event missing name", "Invalid node
// filter: ...").
Status ValidateUserEvent(const UserEvent& event);

// Consul's uuidToUint64: the XOR of the UUID's two 64-bit halves; nullopt if `uuid` is not in
// the 8-4-4-4-12 hex form.
std::optional<uint64_t> UuidToUint64(std::string_view uuid);

// A service registered on this agent, as the filters see it.
struct FilterService {
  std::string id;
  std::vector<std::string> tags;
};

// Whether this agent should keep the event (Consul's shouldProcessUserEvent): the node filter
// must match the node name and, with a service filter, some local service ID must match it and
// (with a tag filter) one of that service's tags. Filters come from any LAN peer: they are Go
// regexps (core/regexp.h, linear time) that search unanchored, as Go's MatchString. A filter that
// does not compile matches nothing.
bool MatchesFilters(const UserEvent& event, std::string_view node_name,
                    const std::vector<FilterService>& services);

// The last kUserEventBufferSize events that passed this agent's filters, oldest first, with
// one-shot watches for blocking queries.
class UserEventBuffer {
 public:
  using ServicesFn = std::function<std::vector<FilterService>()>;

  UserEventBuffer(std::string node_name, ServicesFn services);

  // A Serf user event arrived (on the LAN pool). Events without the "consul:event:" prefix are
  // not ours and are ignored; ours are decoded, filtered and kept. Returns whether it was kept.
  bool HandleSerfEvent(std::string_view serf_name, const std::optional<std::string>& payload,
                       uint64_t ltime);
  // Keeps an event that passed the filters, and fires the watches.
  void Add(UserEvent event);

  // Oldest first.
  std::vector<UserEvent> Events() const;

  // `fire` runs once, at the next Add. Unwatch is a no-op for fired or unknown ids.
  uint64_t Watch(std::function<void()> fire);
  void Unwatch(uint64_t id);
  size_t WatchCount() const { return watches_.size(); }

 private:
  std::string node_name_;
  ServicesFn services_;
  std::vector<UserEvent> ring_;  // grows to kUserEventBufferSize, then overwritten at next_
  size_t next_ = 0;
  uint64_t next_watch_ = 1;
  std::map<uint64_t, std::function<void()>> watches_;
};

}  // namespace gangway::client
