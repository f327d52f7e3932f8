#include "client/user_events.h"


#include "codec/msgpack.h"
#include "core/endian.h"
#include "core/log.h"
#include "core/regexp.h"
#include "core/uuid.h"

namespace gangway::client {

namespace {

constexpr char kLog[] = "agent";

}  // namespace

std::string EncodeUserEvent(const UserEvent& e) {
  namespace mp = codec::msgpack;
  std::string out;
  mp::Writer w(&out);
  const bool p = e.payload && !e.payload->empty();
  w.MapHeader(3 + (p ? 1 : 0) + (e.node_filter.empty() ? 0 : 1) +
              (e.service_filter.empty() ? 0 : 1) + (e.tag_filter.empty() ? 0 : 1));
  w.Raw("ID");
  w.Raw(e.id);
  w.Raw("n");
  w.Raw(e.name);
  if (p) {
    w.Raw("p");
    w.Raw(*e.payload);
  }
  if (!e.node_filter.empty()) {
    w.Raw("nf");
    w.Raw(e.node_filter);
  }
  if (!e.service_filter.empty()) {
    w.Raw("sf");
    w.Raw(e.service_filter);
  }
  if (!e.tag_filter.empty()) {
    w.Raw("tf");
    w.Raw(e.tag_filter);
  }
  w.Raw("v");
  w.Int(e.version);
  return out;
}

Result<UserEvent> DecodeUserEvent(std::string_view bytes) {
  namespace mp = codec::msgpack;
  mp::Limits limits;
  limits.max_depth = 8;
  mp::Reader r(bytes, limits);
  UserEvent e;
  bool has_payload = false;
  Status s = r.ReadStruct([&](std::string_view key) -> Status {
    if (key == "ID") return r.ReadRawOrNil(&e.id);
    if (key == "n") return r.ReadRawOrNil(&e.name);
    if (key == "p") {
      if (r.NextIsNil()) return r.ReadNil();
      std::string_view v;
      if (Status st = r.ReadRaw(&v); !st.ok()) return st;
      e.payload = std::string(v);
      has_payload = true;
      return Status::Ok();
    }
    if (key == "nf") return r.ReadRawOrNil(&e.node_filter);
    if (key == "sf") return r.ReadRawOrNil(&e.service_filter);
    if (key == "tf") return r.ReadRawOrNil(&e.tag_filter);
    if (key == "v") return r.ReadIntOrNil(&e.version);
    return r.Skip();
  });
  if (!s.ok()) return InvalidArgument("user event: " + s.message());
  if (!r.at_end()) {
    return InvalidArgument("user event: " + std::to_string(r.remaining()) +
                           " trailing bytes after the event");
  }
  if (!has_payload) e.payload.reset();
  if (e.name.empty()) return InvalidArgument("user event: missing name");
  if (!UuidToUint64(e.id)) return InvalidArgument("user event: ID \"" + e.id + "\" is not a UUID");
  return e;
}

Status ValidateUserEvent(const UserEvent& e) {
  if (e.name.empty()) return InvalidArgument("User event missing name");
  if (!e.tag_filter.empty() && e.service_filter.empty()) {
    return InvalidArgument("Cannot provide tag filter without service filter");
  }
  const std::pair<const std::string*, const char*> filters[] = {
      {&e.node_filter, "node"}, {&e.service_filter, "service"}, {&e.tag_filter, "tag"}};
  for (const auto& [pattern, what] : filters) {
    if (pattern->empty()) continue;
    if (auto re = Regexp::Compile(*pattern); !re.ok()) {
      return InvalidArgument(std::string("Invalid ") + what + " filter: " + re.status().message());
    }
  }
  return Status::Ok();
}

std::optional<uint64_t> UuidToUint64(std::string_view uuid) {
  auto b = ParseUuid(uuid);
  if (!b) return std::nullopt;
  std::string_view bytes(reinterpret_cast<const char*>(b->data()), b->size());
  // The first 8 bytes (8-4-4 hex digits) xor the last 8 (4-12).
  return LoadBigEndian(bytes, 8) ^ LoadBigEndian(bytes.substr(8), 8);
}

bool MatchesFilters(const UserEvent& e, std::string_view node_name,
                    const std::vector<FilterService>& services) {
  if (!e.node_filter.empty()) {
    auto re = Regexp::Compile(e.node_filter);
    if (!re.ok()) {
      LogError(kLog, "Failed to parse node filter for event: filter=" + e.node_filter +
                         " event=" + e.name + " error=\"" + re.status().message() + "\"");
      return false;
    }
    if (!re->Search(node_name)) return false;
  }
  if (e.service_filter.empty()) return true;
  auto svc = Regexp::Compile(e.service_filter);
  if (!svc.ok()) {
    LogError(kLog, "Failed to parse service filter for event: filter=" + e.service_filter +
                       " event=" + e.name + " error=\"" + svc.status().message() + "\"");
    return false;
  }
  std::optional<Regexp> tag;
  if (!e.tag_filter.empty()) {
    auto t = Regexp::Compile(e.tag_filter);
    if (!t.ok()) {
      LogError(kLog, "Failed to parse tag filter for event: filter=" + e.tag_filter +
                         " event=" + e.name + " error=\"" + t.status().message() + "\"");
      return false;
    }
    tag = std::move(*t);
  }
  for (const FilterService& s : services) {
    if (!svc->Search(s.id)) continue;
    if (!tag) return true;
    for (const std::string& t : s.tags) {
      if (tag->Search(t)) return true;
    }
  }
  return false;
}

UserEventBuffer::UserEventBuffer(std::string node_name, ServicesFn services)
    : node_name_(std::move(node_name)), services_(std::move(services)) {
  ring_.reserve(kUserEventBufferSize);
}

bool UserEventBuffer::HandleSerfEvent(std::string_view serf_name,
                                      const std::optional<std::string>& payload, uint64_t ltime) {
  if (serf_name.substr(0, kUserEventPrefix.size()) != kUserEventPrefix) return false;
  auto decoded = DecodeUserEvent(payload.value_or(std::string()));
  if (!decoded.ok()) {
    LogError(kLog, "Failed to decode event: " + decoded.status().message());
    return false;
  }
  UserEvent e = std::move(*decoded);
  e.ltime = ltime;
  if (e.version > kUserEventVersion) {
    LogWarn(kLog, "Event version may have unsupported features: version=" +
                      std::to_string(e.version) + " event=" + e.name);
  }
  if (!MatchesFilters(e, node_name_, services_ ? services_() : std::vector<FilterService>{})) {
    return false;
  }
  if (e.name == kRemoteExecName) {
    LogInfo(kLog, "ignoring remote exec event (" + e.id + "): remote exec is not supported");
    return false;
  }
  LogDebug(kLog, "new event: event_name=" + e.name + " event_id=" + e.id);
  Add(std::move(e));
  return true;
}

void UserEventBuffer::Add(UserEvent event) {
  if (ring_.size() < kUserEventBufferSize) {
    ring_.push_back(std::move(event));
  } else {
    ring_[next_] = std::move(event);
  }
  next_ = (next_ + 1) % kUserEventBufferSize;
  auto fired = std::move(watches_);
  watches_.clear();
  for (auto& [id, fn] : fired) fn();
}

std::vector<UserEvent> UserEventBuffer::Events() const {
  if (ring_.size() < kUserEventBufferSize) return ring_;
  std::vector<UserEvent> out;
  out.reserve(ring_.size());
  out.insert(out.end(), ring_.begin() + static_cast<std::ptrdiff_t>(next_), ring_.end());
  out.insert(out.end(), ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(next_));
  return out;
}

uint64_t UserEventBuffer::Watch(std::function<void()> fire) {
  uint64_t id = next_watch_++;
  watches_[id] = std::move(fire);
  return id;
}

void UserEventBuffer::Unwatch(uint64_t id) { watches_.erase(id); }

}  // namespace gangway::client
