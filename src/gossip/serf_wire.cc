#include "gossip/serf_wire.h"

#include <iterator>
#include <limits>

namespace gangway::gossip::serf {
namespace {

using codec::msgpack::Limits;
using codec::msgpack::Reader;
using codec::msgpack::Writer;

#define GW_RETURN_IF_ERROR(expr)                                     \
  do {                                                               \
    if (::gangway::Status gw_s_ = (expr); !gw_s_.ok()) return gw_s_; \
  } while (0)

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr uint8_t kTagMagicByte = 0xff;

template <typename T>
Status ReadUnsigned(Reader& r, T* v) {
  uint64_t u = 0;
  GW_RETURN_IF_ERROR(r.ReadUintOrNil(&u, std::numeric_limits<T>::max()));
  *v = static_cast<T>(u);
  return Status::Ok();
}

Status ReadOptBytes(Reader& r, std::optional<std::string>* v) {
  if (r.NextIsNil()) {
    v->reset();
    return r.ReadNil();
  }
  std::string_view raw;
  GW_RETURN_IF_ERROR(r.ReadRaw(&raw));
  v->emplace(raw);
  return Status::Ok();
}

Status ReadStrings(Reader& r, std::vector<std::string>* out) {
  out->clear();
  return r.ReadArray([&](size_t i, size_t n) -> Status {
    if (i == 0) out->reserve(n);
    out->emplace_back();
    return r.ReadRawOrNil(&out->back());
  });
}

Status ReadOptStrings(Reader& r, std::optional<std::vector<std::string>>* out) {
  if (r.NextIsNil()) {
    out->reset();
    return r.ReadNil();
  }
  out->emplace();
  return ReadStrings(r, &**out);
}

Status ReadStringMap(Reader& r, StringMap* out) {
  out->clear();
  if (r.NextIsNil()) return r.ReadNil();
  size_t n = 0;
  GW_RETURN_IF_ERROR(r.ReadMapHeader(&n));
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out->emplace_back();
    GW_RETURN_IF_ERROR(r.ReadRawOrNil(&out->back().first));
    GW_RETURN_IF_ERROR(r.ReadRawOrNil(&out->back().second));
  }
  return Status::Ok();
}

void WriteOptBytes(Writer& w, const std::optional<std::string>& v) {
  if (v) {
    w.Raw(*v);
  } else {
    w.Nil();
  }
}

void WriteStrings(Writer& w, const std::vector<std::string>& v) {
  w.ArrayHeader(v.size());
  for (const std::string& s : v) w.Raw(s);
}

void WriteStringMap(Writer& w, const StringMap& m) {
  w.MapHeader(m.size());
  for (const auto& [k, v] : m) {
    w.Raw(k);
    w.Raw(v);
  }
}

// ---- decoders

Status Decode(Reader& r, Leave* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "Node") return r.ReadRawOrNil(&m->node);
    if (k == "Prune") return r.ReadBoolOrNil(&m->prune);
    return r.Skip();
  });
}

Status Decode(Reader& r, Join* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "Node") return r.ReadRawOrNil(&m->node);
    return r.Skip();
  });
}

Status Decode(Reader& r, UserEvent* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "Name") return r.ReadRawOrNil(&m->name);
    if (k == "Payload") return ReadOptBytes(r, &m->payload);
    if (k == "CC") return r.ReadBoolOrNil(&m->cc);
    return r.Skip();
  });
}

Status Decode(Reader& r, EventEntry* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Name") return r.ReadRawOrNil(&m->name);
    if (k == "Payload") return ReadOptBytes(r, &m->payload);
    return r.Skip();
  });
}

Status Decode(Reader& r, UserEvents* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "Events") {
      m->events.clear();
      return r.ReadArray([&](size_t i, size_t n) -> Status {
        if (i == 0) m->events.reserve(n);
        m->events.emplace_back();
        return Decode(r, &m->events.back());
      });
    }
    return r.Skip();
  });
}

Status Decode(Reader& r, PushPull* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "EventLTime") return ReadUnsigned(r, &m->event_ltime);
    if (k == "QueryLTime") return ReadUnsigned(r, &m->query_ltime);
    if (k == "LeftMembers") return ReadStrings(r, &m->left_members);
    if (k == "StatusLTimes") {
      m->status_ltimes.clear();
      if (r.NextIsNil()) return r.ReadNil();
      size_t n = 0;
      GW_RETURN_IF_ERROR(r.ReadMapHeader(&n));
      m->status_ltimes.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        auto& [name, ltime] = m->status_ltimes.emplace_back();
        GW_RETURN_IF_ERROR(r.ReadRawOrNil(&name));
        GW_RETURN_IF_ERROR(ReadUnsigned(r, &ltime));
      }
      return Status::Ok();
    }
    if (k == "Events") {
      m->events.clear();
      return r.ReadArray([&](size_t i, size_t n) -> Status {
        if (i == 0) m->events.reserve(n);
        if (r.NextIsNil()) {
          m->events.emplace_back();
          return r.ReadNil();
        }
        auto& slot = m->events.emplace_back(UserEvents{});
        return Decode(r, &*slot);
      });
    }
    return r.Skip();
  });
}

Status Decode(Reader& r, Query* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "ID") return ReadUnsigned(r, &m->id);
    if (k == "Addr") return r.ReadRawOrNil(&m->addr);
    if (k == "Port") return ReadUnsigned(r, &m->port);
    if (k == "SourceNode") return r.ReadRawOrNil(&m->source_node);
    if (k == "Filters") return ReadOptStrings(r, &m->filters);
    if (k == "Flags") return ReadUnsigned(r, &m->flags);
    if (k == "RelayFactor") return ReadUnsigned(r, &m->relay_factor);
    if (k == "Timeout") return r.ReadIntOrNil(&m->timeout_ns);
    if (k == "Name") return r.ReadRawOrNil(&m->name);
    if (k == "Payload") return ReadOptBytes(r, &m->payload);
    return r.Skip();
  });
}

Status Decode(Reader& r, QueryResponse* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "LTime") return ReadUnsigned(r, &m->ltime);
    if (k == "ID") return ReadUnsigned(r, &m->id);
    if (k == "From") return r.ReadRawOrNil(&m->from);
    if (k == "Flags") return ReadUnsigned(r, &m->flags);
    if (k == "Payload") return ReadOptBytes(r, &m->payload);
    return r.Skip();
  });
}

Status Decode(Reader& r, Member* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Name") return r.ReadRawOrNil(&m->name);
    if (k == "Addr") return r.ReadRawOrNil(&m->addr);
    if (k == "Port") return ReadUnsigned(r, &m->port);
    if (k == "Tags") return ReadStringMap(r, &m->tags);
    if (k == "Status") return r.ReadIntOrNil(&m->status);
    if (k == "ProtocolMin") return ReadUnsigned(r, &m->protocol_min);
    if (k == "ProtocolMax") return ReadUnsigned(r, &m->protocol_max);
    if (k == "ProtocolCur") return ReadUnsigned(r, &m->protocol_cur);
    if (k == "DelegateMin") return ReadUnsigned(r, &m->delegate_min);
    if (k == "DelegateMax") return ReadUnsigned(r, &m->delegate_max);
    if (k == "DelegateCur") return ReadUnsigned(r, &m->delegate_cur);
    return r.Skip();
  });
}

Status Decode(Reader& r, KeyRequest* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Key") return ReadOptBytes(r, &m->key);
    return r.Skip();
  });
}

Status Decode(Reader& r, KeyResponse* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Result") return r.ReadBoolOrNil(&m->result);
    if (k == "Message") return r.ReadRawOrNil(&m->message);
    if (k == "Keys") return ReadOptStrings(r, &m->keys);
    if (k == "PrimaryKey") return r.ReadRawOrNil(&m->primary_key);
    return r.Skip();
  });
}

Status Decode(Reader& r, UdpAddr* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "IP") return r.ReadRawOrNil(&m->ip);
    if (k == "Port") return r.ReadIntOrNil(&m->port);
    if (k == "Zone") return r.ReadRawOrNil(&m->zone);
    return r.Skip();
  });
}

Status Decode(Reader& r, Relay* m) {
  GW_RETURN_IF_ERROR(r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "DestAddr") return Decode(r, &m->dest_addr);
    if (k == "DestName") return r.ReadRawOrNil(&m->dest_name);
    return r.Skip();
  }));
  // Everything after the header is the message to forward.
  m->inner.assign(r.rest());
  return Status::Ok();
}

template <typename T>
Result<Message> DecodeAs(std::string_view body, const Limits& limits, const char* name) {
  Reader r(body, limits);
  T m;
  if (Status s = Decode(r, &m); !s.ok()) {
    return InvalidArgument(std::string("serf: ") + name + ": " + s.message());
  }
  return Message(std::move(m));
}

// ---- encoders (keys sorted bytewise, as go-msgpack writes structs)

void Encode(Writer& w, const Leave& m) {
  w.MapHeader(3);
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("Node");
  w.Raw(m.node);
  w.Raw("Prune");
  w.Bool(m.prune);
}

void Encode(Writer& w, const Join& m) {
  w.MapHeader(2);
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("Node");
  w.Raw(m.node);
}

void Encode(Writer& w, const UserEvent& m) {
  w.MapHeader(4);
  w.Raw("CC");
  w.Bool(m.cc);
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("Name");
  w.Raw(m.name);
  w.Raw("Payload");
  WriteOptBytes(w, m.payload);
}

void Encode(Writer& w, const UserEvents& m) {
  w.MapHeader(2);
  w.Raw("Events");
  w.ArrayHeader(m.events.size());
  for (const EventEntry& e : m.events) {
    w.MapHeader(2);
    w.Raw("Name");
    w.Raw(e.name);
    w.Raw("Payload");
    WriteOptBytes(w, e.payload);
  }
  w.Raw("LTime");
  w.Uint(m.ltime);
}

void Encode(Writer& w, const PushPull& m) {
  w.MapHeader(6);
  w.Raw("EventLTime");
  w.Uint(m.event_ltime);
  w.Raw("Events");
  w.ArrayHeader(m.events.size());
  for (const auto& slot : m.events) {
    if (slot) {
      Encode(w, *slot);
    } else {
      w.Nil();
    }
  }
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("LeftMembers");
  WriteStrings(w, m.left_members);
  w.Raw("QueryLTime");
  w.Uint(m.query_ltime);
  w.Raw("StatusLTimes");
  w.MapHeader(m.status_ltimes.size());
  for (const auto& [name, ltime] : m.status_ltimes) {
    w.Raw(name);
    w.Uint(ltime);
  }
}

void Encode(Writer& w, const Query& m) {
  w.MapHeader(11);
  w.Raw("Addr");
  w.Raw(m.addr);
  w.Raw("Filters");
  if (m.filters) {
    WriteStrings(w, *m.filters);
  } else {
    w.Nil();
  }
  w.Raw("Flags");
  w.Uint(m.flags);
  w.Raw("ID");
  w.Uint(m.id);
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("Name");
  w.Raw(m.name);
  w.Raw("Payload");
  WriteOptBytes(w, m.payload);
  w.Raw("Port");
  w.Uint(m.port);
  w.Raw("RelayFactor");
  w.Uint(m.relay_factor);
  w.Raw("SourceNode");
  w.Raw(m.source_node);
  w.Raw("Timeout");
  w.Int(m.timeout_ns);
}

void Encode(Writer& w, const QueryResponse& m) {
  w.MapHeader(5);
  w.Raw("Flags");
  w.Uint(m.flags);
  w.Raw("From");
  w.Raw(m.from);
  w.Raw("ID");
  w.Uint(m.id);
  w.Raw("LTime");
  w.Uint(m.ltime);
  w.Raw("Payload");
  WriteOptBytes(w, m.payload);
}

void Encode(Writer& w, const Member& m) {
  w.MapHeader(11);
  w.Raw("Addr");
  w.Raw(m.addr);
  w.Raw("DelegateCur");
  w.Uint(m.delegate_cur);
  w.Raw("DelegateMax");
  w.Uint(m.delegate_max);
  w.Raw("DelegateMin");
  w.Uint(m.delegate_min);
  w.Raw("Name");
  w.Raw(m.name);
  w.Raw("Port");
  w.Uint(m.port);
  w.Raw("ProtocolCur");
  w.Uint(m.protocol_cur);
  w.Raw("ProtocolMax");
  w.Uint(m.protocol_max);
  w.Raw("ProtocolMin");
  w.Uint(m.protocol_min);
  w.Raw("Status");
  w.Int(m.status);
  w.Raw("Tags");
  WriteStringMap(w, m.tags);
}

void Encode(Writer& w, const ConflictResponse& m) { Encode(w, m.member); }

void Encode(Writer& w, const KeyRequest& m) {
  w.MapHeader(1);
  w.Raw("Key");
  WriteOptBytes(w, m.key);
}

void Encode(Writer& w, const KeyResponse& m) {
  w.MapHeader(4);
  w.Raw("Keys");
  if (m.keys) {
    WriteStrings(w, *m.keys);
  } else {
    w.Nil();
  }
  w.Raw("Message");
  w.Raw(m.message);
  w.Raw("PrimaryKey");
  w.Raw(m.primary_key);
  w.Raw("Result");
  w.Bool(m.result);
}

void Encode(Writer& w, const Relay& m) {
  w.MapHeader(2);
  w.Raw("DestAddr");
  w.MapHeader(3);
  w.Raw("IP");
  w.Raw(m.dest_addr.ip);
  w.Raw("Port");
  w.Int(m.dest_addr.port);
  w.Raw("Zone");
  w.Raw(m.dest_addr.zone);
  w.Raw("DestName");
  w.Raw(m.dest_name);
}

}  // namespace

const char* MessageTypeName(uint8_t type) {
  static constexpr const char* kNames[] = {
      "leave",       "join",          "pushPull",         "userEvent",
      "query",       "queryResponse", "conflictResponse", "keyRequest",
      "keyResponse", "relay"};
  return type < std::size(kNames) ? kNames[type] : "unknown";
}

// The variant's order is the wire's type numbering.
static_assert(std::is_same_v<std::variant_alternative_t<0, Message>, Leave>);
static_assert(std::is_same_v<std::variant_alternative_t<2, Message>, PushPull>);
static_assert(std::is_same_v<std::variant_alternative_t<4, Message>, Query>);
static_assert(std::is_same_v<std::variant_alternative_t<6, Message>, ConflictResponse>);
static_assert(std::is_same_v<std::variant_alternative_t<9, Message>, Relay>);
uint8_t TypeOf(const Message& m) { return static_cast<uint8_t>(m.index()); }

Result<Message> DecodeMessage(std::string_view bytes, const Limits& limits) {
  if (bytes.empty()) return InvalidArgument("serf: empty message");
  const uint8_t type = static_cast<uint8_t>(bytes[0]);
  const std::string_view body = bytes.substr(1);
  const char* name = MessageTypeName(type);
  switch (static_cast<MessageType>(type)) {
    case MessageType::kLeave:
      return DecodeAs<Leave>(body, limits, name);
    case MessageType::kJoin:
      return DecodeAs<Join>(body, limits, name);
    case MessageType::kPushPull:
      return DecodeAs<PushPull>(body, limits, name);
    case MessageType::kUserEvent:
      return DecodeAs<UserEvent>(body, limits, name);
    case MessageType::kQuery:
      return DecodeAs<Query>(body, limits, name);
    case MessageType::kQueryResponse:
      return DecodeAs<QueryResponse>(body, limits, name);
    case MessageType::kConflictResponse: {
      Reader r(body, limits);
      ConflictResponse m;
      if (Status s = Decode(r, &m.member); !s.ok()) {
        return InvalidArgument(std::string("serf: ") + name + ": " + s.message());
      }
      return Message(std::move(m));
    }
    case MessageType::kKeyRequest:
      return DecodeAs<KeyRequest>(body, limits, name);
    case MessageType::kKeyResponse:
      return DecodeAs<KeyResponse>(body, limits, name);
    case MessageType::kRelay:
      return DecodeAs<Relay>(body, limits, name);
  }
  return InvalidArgument("serf: unknown message type " + std::to_string(type));
}

std::string EncodeMessage(const Message& m) {
  std::string out;
  out.push_back(static_cast<char>(TypeOf(m)));
  Writer w(&out);
  std::visit([&](const auto& v) { Encode(w, v); }, m);
  if (const auto* relay = std::get_if<Relay>(&m)) out.append(relay->inner);
  return out;
}

Result<Filter> DecodeFilter(std::string_view bytes, const Limits& limits) {
  if (bytes.empty()) return InvalidArgument("serf: empty filter");
  Reader r(bytes.substr(1), limits);
  switch (static_cast<uint8_t>(bytes[0])) {
    case 0: {
      NodeFilter f;
      if (Status s = ReadStrings(r, &f.nodes); !s.ok()) return s;
      return Filter(std::move(f));
    }
    case 1: {
      TagFilter f;
      Status s = r.ReadStruct([&](std::string_view k) -> Status {
        if (k == "Tag") return r.ReadRawOrNil(&f.tag);
        if (k == "Expr") return r.ReadRawOrNil(&f.expr);
        return r.Skip();
      });
      if (!s.ok()) return s;
      return Filter(std::move(f));
    }
    default:
      return InvalidArgument("serf: unknown filter type " +
                             std::to_string(static_cast<uint8_t>(bytes[0])));
  }
}

std::string EncodeFilter(const Filter& f) {
  std::string out;
  Writer w(&out);
  std::visit(Overloaded{
                 [&](const NodeFilter& n) {
                   out.push_back(0);
                   WriteStrings(w, n.nodes);
                 },
                 [&](const TagFilter& t) {
                   out.push_back(1);
                   w.MapHeader(2);
                   w.Raw("Expr");
                   w.Raw(t.expr);
                   w.Raw("Tag");
                   w.Raw(t.tag);
                 },
             },
             f);
  return out;
}

Result<StringMap> DecodeTags(std::string_view meta, const Limits& limits) {
  if (meta.empty() || static_cast<uint8_t>(meta[0]) != kTagMagicByte) {
    return StringMap{{"role", std::string(meta)}};
  }
  Reader r(meta.substr(1), limits);
  StringMap tags;
  if (Status s = ReadStringMap(r, &tags); !s.ok()) {
    return InvalidArgument("serf: failed to decode tags: " + s.message());
  }
  return tags;
}

Result<std::string> EncodeTags(const StringMap& tags) {
  std::string out;
  out.push_back(static_cast<char>(kTagMagicByte));
  Writer w(&out);
  WriteStringMap(w, tags);
  if (out.size() > kMetaMaxSize) {
    return Status(Code::kTooLarge, "serf: encoded length of tags exceeds limit of " +
                                       std::to_string(kMetaMaxSize) + " bytes");
  }
  return out;
}

Result<Coordinate> DecodePingPayload(std::string_view payload, const Limits& limits) {
  if (payload.empty()) return InvalidArgument("serf: empty ping payload");
  if (static_cast<uint8_t>(payload[0]) != kPingVersion) {
    return InvalidArgument("serf: unsupported ping version " +
                           std::to_string(static_cast<uint8_t>(payload[0])));
  }
  Reader r(payload.substr(1), limits);
  Coordinate c;
  Status s = r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Adjustment") return r.ReadFloatOrNil(&c.adjustment);
    if (k == "Error") return r.ReadFloatOrNil(&c.error);
    if (k == "Height") return r.ReadFloatOrNil(&c.height);
    if (k == "Vec") {
      c.vec.clear();
      return r.ReadArray([&](size_t i, size_t n) -> Status {
        if (i == 0) c.vec.reserve(n);
        return r.ReadFloatOrNil(&c.vec.emplace_back());
      });
    }
    return r.Skip();
  });
  if (!s.ok()) return InvalidArgument("serf: coordinate: " + s.message());
  return c;
}

std::string EncodePingPayload(const Coordinate& c) {
  std::string out;
  out.push_back(static_cast<char>(kPingVersion));
  Writer w(&out);
  w.MapHeader(4);
  w.Raw("Adjustment");
  w.Float64(c.adjustment);
  w.Raw("Error");
  w.Float64(c.error);
  w.Raw("Height");
  w.Float64(c.height);
  w.Raw("Vec");
  w.ArrayHeader(c.vec.size());
  for (double d : c.vec) w.Float64(d);
  return out;
}

#undef GW_RETURN_IF_ERROR

}  // namespace gangway::gossip::serf
