#include "gossip/wire.h"
#include "core/endian.h"

#include <limits>

namespace gangway::gossip {
namespace {

using codec::msgpack::Reader;
using codec::msgpack::Writer;

#define GW_RETURN_IF_ERROR(expr)                                     \
  do {                                                               \
    if (::gangway::Status gw_s_ = (expr); !gw_s_.ok()) return gw_s_; \
  } while (0)

constexpr uint8_t kLabelType = static_cast<uint8_t>(MessageType::kHasLabel);
constexpr size_t kLabelMaxSize = 255;
constexpr size_t kMaxCompoundParts = 255;
constexpr size_t kMaxCompoundPartBytes = 0xffff;
constexpr int64_t kLzwAlgo = 0;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;


// ---- field readers: any integer width, nil as the zero value, as go-msgpack decodes.

Status ReadU32(Reader& r, uint32_t* v) {
  uint64_t u = 0;
  GW_RETURN_IF_ERROR(r.ReadUintOrNil(&u, std::numeric_limits<uint32_t>::max()));
  *v = static_cast<uint32_t>(u);
  return Status::Ok();
}
Status ReadU16(Reader& r, uint16_t* v) {
  uint64_t u = 0;
  GW_RETURN_IF_ERROR(r.ReadUintOrNil(&u, std::numeric_limits<uint16_t>::max()));
  *v = static_cast<uint16_t>(u);
  return Status::Ok();
}
Status ReadI64(Reader& r, int64_t* v) { return r.ReadIntOrNil(v); }
Status ReadBytes(Reader& r, std::string* v) { return r.ReadRawOrNil(v); }
Status ReadBool(Reader& r, bool* v) { return r.ReadBoolOrNil(v); }
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

// ---- struct bodies

Status DecodeFields(Reader& r, Ping* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "SeqNo") return ReadU32(r, &m->seq_no);
    if (k == "Node") return ReadBytes(r, &m->node);
    if (k == "SourceAddr") return ReadBytes(r, &m->source_addr);
    if (k == "SourcePort") return ReadU16(r, &m->source_port);
    if (k == "SourceNode") return ReadBytes(r, &m->source_node);
    return r.Skip();
  });
}

Status DecodeFields(Reader& r, IndirectPing* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "SeqNo") return ReadU32(r, &m->seq_no);
    if (k == "Target") return ReadBytes(r, &m->target);
    if (k == "Port") return ReadU16(r, &m->port);
    if (k == "Node") return ReadBytes(r, &m->node);
    if (k == "Nack") return ReadBool(r, &m->nack);
    if (k == "SourceAddr") return ReadBytes(r, &m->source_addr);
    if (k == "SourcePort") return ReadU16(r, &m->source_port);
    if (k == "SourceNode") return ReadBytes(r, &m->source_node);
    return r.Skip();
  });
}

Status DecodeFields(Reader& r, Ack* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "SeqNo") return ReadU32(r, &m->seq_no);
    if (k == "Payload") return ReadOptBytes(r, &m->payload);
    return r.Skip();
  });
}

Status DecodeFields(Reader& r, Nack* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "SeqNo") return ReadU32(r, &m->seq_no);
    return r.Skip();
  });
}

template <typename T>  // Suspect and Dead share their fields
Status DecodeIncarnationNodeFrom(Reader& r, T* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Incarnation") return ReadU32(r, &m->incarnation);
    if (k == "Node") return ReadBytes(r, &m->node);
    if (k == "From") return ReadBytes(r, &m->from);
    return r.Skip();
  });
}
Status DecodeFields(Reader& r, Suspect* m) { return DecodeIncarnationNodeFrom(r, m); }
Status DecodeFields(Reader& r, Dead* m) { return DecodeIncarnationNodeFrom(r, m); }

Status DecodeFields(Reader& r, Alive* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Incarnation") return ReadU32(r, &m->incarnation);
    if (k == "Node") return ReadBytes(r, &m->node);
    if (k == "Addr") return ReadBytes(r, &m->addr);
    if (k == "Port") return ReadU16(r, &m->port);
    if (k == "Meta") return ReadBytes(r, &m->meta);
    if (k == "Vsn") return ReadBytes(r, &m->vsn);
    return r.Skip();
  });
}

Status DecodeFields(Reader& r, PushNodeState* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Name") return ReadBytes(r, &m->name);
    if (k == "Addr") return ReadBytes(r, &m->addr);
    if (k == "Port") return ReadU16(r, &m->port);
    if (k == "Meta") return ReadBytes(r, &m->meta);
    if (k == "Incarnation") return ReadU32(r, &m->incarnation);
    if (k == "State") {
      int64_t s = 0;
      GW_RETURN_IF_ERROR(r.ReadIntOrNil(&s, std::numeric_limits<int32_t>::min(),
                                        std::numeric_limits<int32_t>::max()));
      m->state = static_cast<NodeState>(s);
      return Status::Ok();
    }
    if (k == "Vsn") return ReadBytes(r, &m->vsn);
    return r.Skip();
  });
}

Status DecodeFields(Reader& r, ErrorResp* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Error") return ReadBytes(r, &m->error);
    return r.Skip();
  });
}

struct PushPullHeader {
  bool join = false;
  int64_t nodes = 0;
  int64_t user_state_len = 0;
};
Status DecodeFields(Reader& r, PushPullHeader* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Join") return ReadBool(r, &m->join);
    if (k == "Nodes") return ReadI64(r, &m->nodes);
    if (k == "UserStateLen") return ReadI64(r, &m->user_state_len);
    return r.Skip();
  });
}

struct UserMsgHeader {
  int64_t user_msg_len = 0;
};
Status DecodeFields(Reader& r, UserMsgHeader* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "UserMsgLen") return ReadI64(r, &m->user_msg_len);
    return r.Skip();
  });
}

struct CompressBody {
  int64_t algo = 0;
  std::string buf;
};
Status DecodeFields(Reader& r, CompressBody* m) {
  return r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "Algo") return ReadI64(r, &m->algo);
    if (k == "Buf") return ReadBytes(r, &m->buf);
    return r.Skip();
  });
}

// Encoders write keys sorted bytewise, as go-msgpack does for structs.

void EncodeIncarnationNodeFrom(uint32_t incarnation, std::string_view node, std::string_view from,
                               std::string* out) {
  Writer w(out);
  w.MapHeader(3);
  w.Raw("From");
  w.Raw(from);
  w.Raw("Incarnation");
  w.Uint(incarnation);
  w.Raw("Node");
  w.Raw(node);
}

void EncodeBody(const PushPullHeader& m, std::string* out) {
  Writer w(out);
  w.MapHeader(3);
  w.Raw("Join");
  w.Bool(m.join);
  w.Raw("Nodes");
  w.Int(m.nodes);
  w.Raw("UserStateLen");
  w.Int(m.user_state_len);
}

// "09" + compress{Algo: 0, Buf: LZW(msg)}.
std::string CompressMessage(std::string_view msg) {
  std::string out;
  out.push_back(static_cast<char>(MessageType::kCompress));
  Writer w(&out);
  w.MapHeader(2);
  w.Raw("Algo");
  w.Int(kLzwAlgo);
  w.Raw("Buf");
  w.Raw(LzwCompress(msg));
  return out;
}

// ---- decoding UDP messages

struct DecodeContext {
  const WireLimits& limits;
  size_t depth = 0;
  size_t decompress_budget = 0;  // shared by every compress frame of one packet or stream
};

Message MakeUnparsed(std::string_view bytes, std::string reason) {
  return Unparsed{std::string(bytes), std::move(reason)};
}

template <typename T>
Message DecodeStructMessage(std::string_view whole, const DecodeContext& ctx) {
  Reader r(whole.substr(1), ctx.limits.msgpack);
  T m;
  if (Status s = DecodeFields(r, &m); !s.ok()) {
    return MakeUnparsed(
        whole, std::string(MessageTypeName(static_cast<uint8_t>(whole[0]))) + ": " + s.message());
  }
  return m;  // Go ignores bytes after the struct; so do we
}

Result<std::string> Inflate(std::string_view body, DecodeContext* ctx) {
  Reader r(body, ctx->limits.msgpack);
  CompressBody c;
  GW_RETURN_IF_ERROR(DecodeFields(r, &c));
  if (c.algo != kLzwAlgo) {
    return InvalidArgument("cannot decompress unknown algorithm " + std::to_string(c.algo));
  }
  auto plain = LzwDecompress(c.buf, ctx->decompress_budget);
  if (!plain.ok()) return plain.status();
  ctx->decompress_budget -= plain->size();
  return plain;
}

Message DecodeUdp(std::string_view bytes, DecodeContext* ctx) {
  if (bytes.empty()) return MakeUnparsed(bytes, "missing message type byte");
  const uint8_t type = static_cast<uint8_t>(bytes[0]);
  const std::string_view body = bytes.substr(1);
  switch (static_cast<MessageType>(type)) {
    case MessageType::kPing:
      return DecodeStructMessage<Ping>(bytes, *ctx);
    case MessageType::kIndirectPing:
      return DecodeStructMessage<IndirectPing>(bytes, *ctx);
    case MessageType::kAck:
      return DecodeStructMessage<Ack>(bytes, *ctx);
    case MessageType::kNack:
      return DecodeStructMessage<Nack>(bytes, *ctx);
    case MessageType::kSuspect:
      return DecodeStructMessage<Suspect>(bytes, *ctx);
    case MessageType::kAlive:
      return DecodeStructMessage<Alive>(bytes, *ctx);
    case MessageType::kDead:
      return DecodeStructMessage<Dead>(bytes, *ctx);
    case MessageType::kUser:
      return UserMsg{std::string(body)};
    case MessageType::kCompound: {
      if (ctx->depth >= ctx->limits.max_nesting) {
        return MakeUnparsed(bytes, "compound nested deeper than the limit");
      }
      if (body.empty()) return MakeUnparsed(bytes, "missing compound length byte");
      const size_t n = static_cast<uint8_t>(body[0]);
      std::string_view rest = body.substr(1);
      if (rest.size() < 2 * n) return MakeUnparsed(bytes, "truncated compound length slice");
      Compound c;
      c.parts.reserve(n);
      std::string_view lengths = rest.substr(0, 2 * n);
      rest.remove_prefix(2 * n);
      ++ctx->depth;
      for (size_t i = 0; i < n; ++i) {
        const size_t len = LoadBigEndian(lengths.substr(2 * i), 2);
        if (rest.size() < len) {
          c.truncated = n - i;
          break;
        }
        c.parts.push_back(DecodeUdp(rest.substr(0, len), ctx));
        rest.remove_prefix(len);
      }
      --ctx->depth;
      return c;
    }
    case MessageType::kCompress: {
      if (ctx->depth >= ctx->limits.max_nesting) {
        return MakeUnparsed(bytes, "compress nested deeper than the limit");
      }
      auto plain = Inflate(body, ctx);
      if (!plain.ok()) return MakeUnparsed(bytes, "compress: " + plain.status().message());
      Compressed c;
      ++ctx->depth;
      c.inner.push_back(DecodeUdp(*plain, ctx));
      --ctx->depth;
      return c;
    }
    default:
      return MakeUnparsed(bytes, std::string("message type ") + std::to_string(type) + " (" +
                                     MessageTypeName(type) + ") not supported on UDP");
  }
}

// ---- encoding

Status EncodeUdpInto(const Message& m, std::string* out);

Status EncodeCommon(const Message& m, std::string* out, bool* handled) {
  *handled = true;
  auto put = [&](MessageType t) { out->push_back(static_cast<char>(t)); };
  return std::visit(Overloaded{
                        [&](const Ping& v) {
                          put(MessageType::kPing);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const IndirectPing& v) {
                          put(MessageType::kIndirectPing);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Ack& v) {
                          put(MessageType::kAck);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Nack& v) {
                          put(MessageType::kNack);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Suspect& v) {
                          put(MessageType::kSuspect);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Alive& v) {
                          put(MessageType::kAlive);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Dead& v) {
                          put(MessageType::kDead);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const ErrorResp& v) {
                          put(MessageType::kErr);
                          EncodeBody(v, out);
                          return Status::Ok();
                        },
                        [&](const Unparsed& v) {
                          out->append(v.raw);
                          return Status::Ok();
                        },
                        [&](const auto&) {
                          *handled = false;
                          return Status::Ok();
                        },
                    },
                    m.body);
}

Status EncodeUdpInto(const Message& m, std::string* out) {
  bool handled = false;
  GW_RETURN_IF_ERROR(EncodeCommon(m, out, &handled));
  if (handled) {
    if (m.As<ErrorResp>()) return InvalidArgument("gossip: err messages are stream-only");
    return Status::Ok();
  }
  if (const auto* u = m.As<UserMsg>()) {
    out->push_back(static_cast<char>(MessageType::kUser));
    out->append(u->payload);
    return Status::Ok();
  }
  if (const auto* c = m.As<Compound>()) {
    if (c->parts.size() > kMaxCompoundParts) {
      return InvalidArgument("gossip: a compound holds at most 255 messages, not " +
                             std::to_string(c->parts.size()));
    }
    std::vector<std::string> parts(c->parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      GW_RETURN_IF_ERROR(EncodeUdpInto(c->parts[i], &parts[i]));
      if (parts[i].size() > kMaxCompoundPartBytes) {
        return InvalidArgument("gossip: compound part of " + std::to_string(parts[i].size()) +
                               " bytes exceeds 65535");
      }
    }
    out->push_back(static_cast<char>(MessageType::kCompound));
    out->push_back(static_cast<char>(parts.size()));
    for (const std::string& p : parts) {
      out->push_back(static_cast<char>(p.size() >> 8));
      out->push_back(static_cast<char>(p.size() & 0xff));
    }
    for (const std::string& p : parts) out->append(p);
    return Status::Ok();
  }
  if (const auto* c = m.As<Compressed>()) {
    if (c->inner.size() != 1) return InvalidArgument("gossip: compress wraps exactly one message");
    std::string inner;
    GW_RETURN_IF_ERROR(EncodeUdpInto(c->inner[0], &inner));
    out->append(CompressMessage(inner));
    return Status::Ok();
  }
  return InvalidArgument("gossip: push/pull messages are stream-only");
}

Status CheckLabel(std::string_view label) {
  if (label.empty()) return InvalidArgument("gossip: a label header needs a non-empty label");
  if (label.size() > kLabelMaxSize) {
    return InvalidArgument("gossip: label of " + std::to_string(label.size()) +
                           " bytes is longer than 255");
  }
  return Status::Ok();
}

void PutLabelHeader(std::string_view label, std::string* out) {
  out->push_back(static_cast<char>(kLabelType));
  out->push_back(static_cast<char>(label.size()));
  out->append(label);
}

// crc, seal and label around an encoded body (§2 order).
Result<std::string> WrapPacket(std::string body, std::string_view label, bool label_header,
                               bool crc, std::optional<uint8_t> seal_version,
                               const Keyring* keyring, NonceSource* nonces) {
  std::string inner;
  if (crc) {
    inner.reserve(body.size() + 5);
    inner.push_back(static_cast<char>(MessageType::kHasCrc));
    AppendBigEndian32(&inner, Crc32Ieee(body));
    inner.append(body);
  } else {
    inner = std::move(body);
  }
  if (seal_version) {
    if (keyring == nullptr || keyring->empty()) {
      return InvalidArgument("gossip: encryption requested without a key");
    }
    if (nonces == nullptr) return InvalidArgument("gossip: encryption requested without nonces");
    Nonce nonce{};
    GW_RETURN_IF_ERROR(nonces->Next(&nonce));
    auto sealed = Seal(*seal_version, keyring->primary(), nonce, inner, label);
    if (!sealed.ok()) return sealed.status();
    inner = std::move(sealed).value();
  }
  if (!label_header) return inner;
  GW_RETURN_IF_ERROR(CheckLabel(label));
  std::string out;
  out.reserve(2 + label.size() + inner.size());
  PutLabelHeader(label, &out);
  out.append(inner);
  return out;
}

// ---- streams

Status EncodeStreamInto(const Message& m, std::string* out) {
  bool handled = false;
  GW_RETURN_IF_ERROR(EncodeCommon(m, out, &handled));
  if (handled) {
    if (m.As<Ping>() || m.As<Ack>() || m.As<ErrorResp>() || m.As<Unparsed>()) {
      return Status::Ok();
    }
    return InvalidArgument(std::string("gossip: ") + MessageTypeName(m.type()) +
                           " is not a stream message");
  }
  if (const auto* p = m.As<PushPull>()) {
    out->push_back(static_cast<char>(MessageType::kPushPull));
    EncodeBody(PushPullHeader{p->join, static_cast<int64_t>(p->nodes.size()),
                              static_cast<int64_t>(p->user_state.size())},
               out);
    for (const PushNodeState& n : p->nodes) EncodeBody(n, out);
    out->append(p->user_state);
    return Status::Ok();
  }
  if (const auto* u = m.As<UserMsg>()) {
    out->push_back(static_cast<char>(MessageType::kUser));
    Writer w(out);
    w.MapHeader(1);
    w.Raw("UserMsgLen");
    w.Uint(u->payload.size());
    out->append(u->payload);
    return Status::Ok();
  }
  return InvalidArgument(std::string("gossip: ") + MessageTypeName(m.type()) +
                         " is not a stream message");
}

// Parses the stream message at the start of `data`. When `complete` is false, running out of
// bytes sets *need_more instead of failing.
Status ParseStreamMessage(std::string_view data, bool complete, const WireLimits& limits,
                          Message* out, size_t* used, bool* need_more) {
  *need_more = false;
  if (data.empty()) {
    if (complete) return InvalidArgument("gossip: stream message is empty");
    *need_more = true;
    return Status::Ok();
  }
  const uint8_t type = static_cast<uint8_t>(data[0]);
  Reader r(data.substr(1), limits.msgpack);
  // Maps a reader failure to "need more" when it only ran out of bytes.
  auto fail = [&](const Status& s) {
    if (!complete && r.truncated()) {
      *need_more = true;
      return Status::Ok();
    }
    return Status(s.code(), std::string("gossip: ") + MessageTypeName(type) + ": " + s.message());
  };
  auto take_raw = [&](int64_t len, std::string* dst) -> Status {
    if (r.remaining() < static_cast<uint64_t>(len)) {
      if (!complete) {
        *need_more = true;
        return Status::Ok();
      }
      return InvalidArgument("gossip: failed to read full user state (" +
                             std::to_string(r.remaining()) + " / " + std::to_string(len) + ")");
    }
    dst->assign(r.rest().substr(0, static_cast<size_t>(len)));
    return Status::Ok();
  };

  switch (static_cast<MessageType>(type)) {
    case MessageType::kPing: {
      Ping m;
      if (Status s = DecodeFields(r, &m); !s.ok()) return fail(s);
      *out = std::move(m);
      break;
    }
    case MessageType::kAck: {
      Ack m;
      if (Status s = DecodeFields(r, &m); !s.ok()) return fail(s);
      *out = std::move(m);
      break;
    }
    case MessageType::kErr: {
      ErrorResp m;
      if (Status s = DecodeFields(r, &m); !s.ok()) return fail(s);
      *out = std::move(m);
      break;
    }
    case MessageType::kUser: {
      UserMsgHeader h;
      if (Status s = DecodeFields(r, &h); !s.ok()) return fail(s);
      if (h.user_msg_len < 0 ||
          static_cast<uint64_t>(h.user_msg_len) > limits.max_push_state_bytes) {
        return InvalidArgument("gossip: user message length " + std::to_string(h.user_msg_len) +
                               " out of range");
      }
      UserMsg m;
      GW_RETURN_IF_ERROR(take_raw(h.user_msg_len, &m.payload));
      if (*need_more) return Status::Ok();
      *used = 1 + r.position() + static_cast<size_t>(h.user_msg_len);
      *out = std::move(m);
      return Status::Ok();
    }
    case MessageType::kPushPull: {
      PushPullHeader h;
      if (Status s = DecodeFields(r, &h); !s.ok()) return fail(s);
      if (h.nodes < 0 || static_cast<uint64_t>(h.nodes) > limits.max_push_nodes) {
        return InvalidArgument("gossip: push/pull node count " + std::to_string(h.nodes) +
                               " out of range");
      }
      if (h.user_state_len < 0 ||
          static_cast<uint64_t>(h.user_state_len) > limits.max_push_state_bytes) {
        return InvalidArgument("gossip: push/pull user state length " +
                               std::to_string(h.user_state_len) + " out of range");
      }
      PushPull m;
      m.join = h.join;
      // Each node state takes at least one byte, so this reserve is bounded by the input.
      m.nodes.reserve(std::min<size_t>(static_cast<size_t>(h.nodes), r.remaining()));
      for (int64_t i = 0; i < h.nodes; ++i) {
        PushNodeState n;
        if (Status s = DecodeFields(r, &n); !s.ok()) return fail(s);
        m.nodes.push_back(std::move(n));
      }
      GW_RETURN_IF_ERROR(take_raw(h.user_state_len, &m.user_state));
      if (*need_more) return Status::Ok();
      *used = 1 + r.position() + static_cast<size_t>(h.user_state_len);
      *out = std::move(m);
      return Status::Ok();
    }
    default:
      return InvalidArgument("gossip: received invalid stream message type " +
                             std::to_string(type) + " (" + MessageTypeName(type) + ")");
  }
  if (*need_more) return Status::Ok();
  *used = 1 + r.position();
  return Status::Ok();
}

// A compress wrapper (maybe) and then one message.
Status ParsePlainStream(std::string_view data, bool complete, const WireLimits& limits,
                        StreamFrame* f, size_t* used, bool* need_more) {
  *need_more = false;
  if (data.empty()) {
    if (complete) return InvalidArgument("gossip: stream message is empty");
    *need_more = true;
    return Status::Ok();
  }
  if (static_cast<uint8_t>(data[0]) != static_cast<uint8_t>(MessageType::kCompress)) {
    f->compressed = false;
    return ParseStreamMessage(data, complete, limits, &f->message, used, need_more);
  }
  Reader r(data.substr(1), limits.msgpack);
  CompressBody c;
  if (Status s = DecodeFields(r, &c); !s.ok()) {
    if (!complete && r.truncated()) {
      *need_more = true;
      return Status::Ok();
    }
    return Status(s.code(), "gossip: compress: " + s.message());
  }
  if (c.algo != kLzwAlgo) {
    return InvalidArgument("gossip: cannot decompress unknown algorithm " + std::to_string(c.algo));
  }
  auto plain = LzwDecompress(c.buf, limits.max_decompressed_bytes);
  if (!plain.ok()) return plain.status();
  f->compressed = true;
  size_t inner_used = 0;
  bool inner_more = false;
  GW_RETURN_IF_ERROR(
      ParseStreamMessage(*plain, /*complete=*/true, limits, &f->message, &inner_used, &inner_more));
  *used = 1 + r.position();
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const char* MessageTypeName(uint8_t type) {
  switch (type) {
    case 0:
      return "ping";
    case 1:
      return "indirectPing";
    case 2:
      return "ack";
    case 3:
      return "suspect";
    case 4:
      return "alive";
    case 5:
      return "dead";
    case 6:
      return "pushPull";
    case 7:
      return "compound";
    case 8:
      return "user";
    case 9:
      return "compress";
    case 10:
      return "encrypt";
    case 11:
      return "nack";
    case 12:
      return "hasCrc";
    case 13:
      return "err";
    case 244:
      return "hasLabel";
    default:
      return "unknown";
  }
}

uint8_t Message::type() const {
  const MessageType t = std::visit(
      Overloaded{
          [](const Ping&) { return MessageType::kPing; },
          [](const IndirectPing&) { return MessageType::kIndirectPing; },
          [](const Ack&) { return MessageType::kAck; },
          [](const Nack&) { return MessageType::kNack; },
          [](const Suspect&) { return MessageType::kSuspect; },
          [](const Alive&) { return MessageType::kAlive; },
          [](const Dead&) { return MessageType::kDead; },
          [](const PushPull&) { return MessageType::kPushPull; },
          [](const UserMsg&) { return MessageType::kUser; },
          [](const ErrorResp&) { return MessageType::kErr; },
          [](const Compound&) { return MessageType::kCompound; },
          [](const Compressed&) { return MessageType::kCompress; },
          [](const Unparsed& u) {
            return static_cast<MessageType>(u.raw.empty() ? 0 : static_cast<uint8_t>(u.raw[0]));
          },
      },
      body);
  return static_cast<uint8_t>(t);
}

std::vector<const Message*> Leaves(const Message& m) {
  std::vector<const Message*> out;
  // Explicit stack: nesting is bounded on decode but not for hand-built messages.
  std::vector<const Message*> stack{&m};
  while (!stack.empty()) {
    const Message* cur = stack.back();
    stack.pop_back();
    if (const auto* c = cur->As<Compound>()) {
      for (auto it = c->parts.rbegin(); it != c->parts.rend(); ++it) stack.push_back(&*it);
    } else if (const auto* z = cur->As<Compressed>()) {
      for (auto it = z->inner.rbegin(); it != z->inner.rend(); ++it) stack.push_back(&*it);
    } else {
      out.push_back(cur);
    }
  }
  return out;
}

std::optional<std::string> FirstProblem(const Message& m) {
  std::vector<const Message*> stack{&m};
  while (!stack.empty()) {
    const Message* cur = stack.back();
    stack.pop_back();
    if (const auto* u = cur->As<Unparsed>()) return u->reason;
    if (const auto* c = cur->As<Compound>()) {
      if (c->truncated > 0) return std::to_string(c->truncated) + " truncated compound parts";
      for (auto it = c->parts.rbegin(); it != c->parts.rend(); ++it) stack.push_back(&*it);
    } else if (const auto* z = cur->As<Compressed>()) {
      for (auto it = z->inner.rbegin(); it != z->inner.rend(); ++it) stack.push_back(&*it);
    }
  }
  return std::nullopt;
}

void EncodeBody(const Ping& m, std::string* out) {
  Writer w(out);
  const size_t n = 2 + !m.source_addr.empty() + !m.source_node.empty() + (m.source_port != 0);
  w.MapHeader(n);
  w.Raw("Node");
  w.Raw(m.node);
  w.Raw("SeqNo");
  w.Uint(m.seq_no);
  if (!m.source_addr.empty()) {
    w.Raw("SourceAddr");
    w.Raw(m.source_addr);
  }
  if (!m.source_node.empty()) {
    w.Raw("SourceNode");
    w.Raw(m.source_node);
  }
  if (m.source_port != 0) {
    w.Raw("SourcePort");
    w.Uint(m.source_port);
  }
}

void EncodeBody(const IndirectPing& m, std::string* out) {
  Writer w(out);
  const size_t n = 5 + !m.source_addr.empty() + !m.source_node.empty() + (m.source_port != 0);
  w.MapHeader(n);
  w.Raw("Nack");
  w.Bool(m.nack);
  w.Raw("Node");
  w.Raw(m.node);
  w.Raw("Port");
  w.Uint(m.port);
  w.Raw("SeqNo");
  w.Uint(m.seq_no);
  if (!m.source_addr.empty()) {
    w.Raw("SourceAddr");
    w.Raw(m.source_addr);
  }
  if (!m.source_node.empty()) {
    w.Raw("SourceNode");
    w.Raw(m.source_node);
  }
  if (m.source_port != 0) {
    w.Raw("SourcePort");
    w.Uint(m.source_port);
  }
  w.Raw("Target");
  w.Raw(m.target);
}

void EncodeBody(const Ack& m, std::string* out) {
  Writer w(out);
  w.MapHeader(2);
  w.Raw("Payload");
  if (m.payload) {
    w.Raw(*m.payload);
  } else {
    w.Nil();
  }
  w.Raw("SeqNo");
  w.Uint(m.seq_no);
}

void EncodeBody(const Nack& m, std::string* out) {
  Writer w(out);
  w.MapHeader(1);
  w.Raw("SeqNo");
  w.Uint(m.seq_no);
}

void EncodeBody(const Suspect& m, std::string* out) {
  EncodeIncarnationNodeFrom(m.incarnation, m.node, m.from, out);
}

void EncodeBody(const Dead& m, std::string* out) {
  EncodeIncarnationNodeFrom(m.incarnation, m.node, m.from, out);
}

void EncodeBody(const Alive& m, std::string* out) {
  Writer w(out);
  w.MapHeader(6);
  w.Raw("Addr");
  w.Raw(m.addr);
  w.Raw("Incarnation");
  w.Uint(m.incarnation);
  w.Raw("Meta");
  w.Raw(m.meta);
  w.Raw("Node");
  w.Raw(m.node);
  w.Raw("Port");
  w.Uint(m.port);
  w.Raw("Vsn");
  w.Raw(m.vsn);
}

void EncodeBody(const PushNodeState& m, std::string* out) {
  Writer w(out);
  w.MapHeader(7);
  w.Raw("Addr");
  w.Raw(m.addr);
  w.Raw("Incarnation");
  w.Uint(m.incarnation);
  w.Raw("Meta");
  w.Raw(m.meta);
  w.Raw("Name");
  w.Raw(m.name);
  w.Raw("Port");
  w.Uint(m.port);
  w.Raw("State");
  w.Int(static_cast<int32_t>(m.state));
  w.Raw("Vsn");
  w.Raw(m.vsn);
}

void EncodeBody(const ErrorResp& m, std::string* out) {
  Writer w(out);
  w.MapHeader(1);
  w.Raw("Error");
  w.Raw(m.error);
}

Result<std::string> EncodeMessage(const Message& m) {
  std::string out;
  GW_RETURN_IF_ERROR(EncodeUdpInto(m, &out));
  return out;
}

Message DecodeMessage(std::string_view bytes, const WireLimits& limits) {
  DecodeContext ctx{limits, 0, limits.max_decompressed_bytes};
  return DecodeUdp(bytes, &ctx);
}

Result<Packet> DecodePacket(std::string_view data, const PacketOptions& o) {
  if (data.empty()) return InvalidArgument("gossip: empty packet");
  Packet p;
  std::string_view label;
  if (static_cast<uint8_t>(data[0]) == kLabelType) {
    if (data.size() < 3) {
      return InvalidArgument("gossip: cannot decode label; packet has been truncated");
    }
    const size_t size = static_cast<uint8_t>(data[1]);
    if (size < 1) return InvalidArgument("gossip: label header cannot be empty when present");
    if (data.size() < 2 + size) {
      return InvalidArgument("gossip: cannot decode label; packet has been truncated");
    }
    label = data.substr(2, size);
    data.remove_prefix(2 + size);
    p.label_header = true;
  }
  if (o.skip_inbound_label_check) {
    if (p.label_header) return InvalidArgument("gossip: unexpected double packet label header");
    label = o.label;
  }
  if (label != o.label) {
    return Status(Code::kPermissionDenied, "gossip: discarding packet with unacceptable label \"" +
                                               std::string(label) + "\"");
  }
  p.label = std::string(label);

  std::string plain;
  if (o.keyring != nullptr && !o.keyring->empty()) {
    auto opened = Open(*o.keyring, data, label);
    if (opened.ok()) {
      p.encryption = Encryption{opened->version, opened->nonce, opened->key_index};
      plain = std::move(opened->plain);
      data = plain;
    } else if (o.verify_incoming) {
      return Status(Code::kPermissionDenied,
                    "gossip: decrypt packet failed: " + opened.status().message());
    }
  }

  if (data.size() >= 5 &&
      static_cast<uint8_t>(data[0]) == static_cast<uint8_t>(MessageType::kHasCrc)) {
    const uint32_t want = LoadBigEndian32(data.substr(1, 4));
    const uint32_t got = Crc32Ieee(data.substr(5));
    if (want != got) {
      return InvalidArgument("gossip: invalid checksum for UDP packet: " + std::to_string(got) +
                             " != " + std::to_string(want));
    }
    p.crc = true;
    data.remove_prefix(5);
  }
  if (data.empty()) return InvalidArgument("gossip: missing message type byte");
  p.body = DecodeMessage(data, o.limits);
  return p;
}

Result<std::string> EncodePacket(const Packet& p, const Keyring* keyring, NonceSource* nonces) {
  auto body = EncodeMessage(p.body);
  if (!body.ok()) return body;
  std::optional<uint8_t> seal;
  if (p.encryption) seal = p.encryption->version;
  return WrapPacket(std::move(body).value(), p.label, p.label_header, p.crc, seal, keyring, nonces);
}

Result<std::string> BuildPacket(std::vector<Message> messages, const SendOptions& o,
                                NonceSource* nonces) {
  if (messages.empty()) return InvalidArgument("gossip: a packet needs at least one message");
  Message body = messages.size() == 1 ? std::move(messages[0]) : Compound{std::move(messages)};
  auto encoded = EncodeMessage(body);
  if (!encoded.ok()) return encoded;
  std::string bytes = std::move(encoded).value();
  if (o.compress) {
    std::string compressed = CompressMessage(bytes);
    if (compressed.size() < bytes.size()) bytes = std::move(compressed);
  }
  std::optional<uint8_t> seal;
  if (o.keyring != nullptr && !o.keyring->empty()) seal = o.encryption_version;
  return WrapPacket(std::move(bytes), o.label, !o.label.empty(), o.crc, seal, o.keyring, nonces);
}

Result<std::optional<StreamFrame>> DecodeStream(std::string_view in, const StreamOptions& o) {
  using Incomplete = std::optional<StreamFrame>;
  StreamFrame f;
  size_t pos = 0;
  std::string_view label = o.label;
  if (o.accept_label_header) {
    label = {};
    if (in.empty()) return Incomplete();
    if (static_cast<uint8_t>(in[0]) == kLabelType) {
      if (in.size() < 2) return Incomplete();
      const size_t size = static_cast<uint8_t>(in[1]);
      if (size < 1) return InvalidArgument("gossip: label header cannot be empty when present");
      if (in.size() < 2 + size) return Incomplete();
      label = in.substr(2, size);
      pos = 2 + size;
      f.label_header = true;
    }
    if (o.skip_inbound_label_check) {
      if (f.label_header) return InvalidArgument("gossip: unexpected double stream label header");
      label = o.label;
    }
    if (label != o.label) {
      return Status(
          Code::kPermissionDenied,
          "gossip: discarding stream with unacceptable label \"" + std::string(label) + "\"");
    }
  }
  f.label = std::string(label);
  if (pos >= in.size()) return Incomplete();

  const bool encryption_on = o.keyring != nullptr && !o.keyring->empty();
  if (static_cast<uint8_t>(in[pos]) == static_cast<uint8_t>(MessageType::kEncrypt)) {
    if (!encryption_on) {
      return InvalidArgument("gossip: remote state is encrypted and encryption is not configured");
    }
    if (in.size() - pos < 5) return Incomplete();
    const uint32_t len = LoadBigEndian32(in.substr(pos + 1, 4));
    if (len > o.limits.max_push_state_bytes) {
      return Status(Code::kTooLarge,
                    "gossip: remote node state is larger than limit (" + std::to_string(len) + ")");
    }
    if (in.size() - pos - 5 < len) return Incomplete();
    std::string aad(in.substr(pos, 5));
    aad.append(label);
    auto opened = Open(*o.keyring, in.substr(pos + 5, len), aad);
    if (!opened.ok()) {
      return Status(Code::kPermissionDenied,
                    "gossip: decrypt stream failed: " + opened.status().message());
    }
    f.encryption = Encryption{opened->version, opened->nonce, opened->key_index};
    size_t used = 0;
    bool need_more = false;
    GW_RETURN_IF_ERROR(
        ParsePlainStream(opened->plain, /*complete=*/true, o.limits, &f, &used, &need_more));
    f.consumed = pos + 5 + len;
    return Incomplete(std::move(f));
  }
  if (encryption_on && o.verify_incoming) {
    return Status(Code::kPermissionDenied,
                  "gossip: encryption is configured but remote state is not encrypted");
  }
  size_t used = 0;
  bool need_more = false;
  GW_RETURN_IF_ERROR(
      ParsePlainStream(in.substr(pos), /*complete=*/false, o.limits, &f, &used, &need_more));
  if (need_more) {
    if (in.size() - pos >= o.limits.max_stream_bytes) {
      return Status(Code::kTooLarge, "gossip: stream message larger than " +
                                         std::to_string(o.limits.max_stream_bytes) + " bytes");
    }
    return Incomplete();
  }
  f.consumed = pos + used;
  return Incomplete(std::move(f));
}

Result<std::string> EncodeStream(const StreamFrame& f, const Keyring* keyring,
                                 NonceSource* nonces) {
  std::string msg;
  GW_RETURN_IF_ERROR(EncodeStreamInto(f.message, &msg));
  if (f.compressed) msg = CompressMessage(msg);
  std::string out;
  if (f.label_header) {
    GW_RETURN_IF_ERROR(CheckLabel(f.label));
    PutLabelHeader(f.label, &out);
  }
  if (!f.encryption) {
    out.append(msg);
    return out;
  }
  if (keyring == nullptr || keyring->empty()) {
    return InvalidArgument("gossip: encryption requested without a key");
  }
  if (nonces == nullptr) return InvalidArgument("gossip: encryption requested without nonces");
  const size_t sealed_len = SealedLength(f.encryption->version, msg.size());
  if (sealed_len > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgument("gossip: stream message too large to encrypt");
  }
  std::string header;
  header.push_back(static_cast<char>(MessageType::kEncrypt));
  AppendBigEndian32(&header, static_cast<uint32_t>(sealed_len));
  std::string aad = header + f.label;
  Nonce nonce{};
  GW_RETURN_IF_ERROR(nonces->Next(&nonce));
  auto sealed = Seal(f.encryption->version, keyring->primary(), nonce, msg, aad);
  if (!sealed.ok()) return sealed.status();
  out.append(header);
  out.append(*sealed);
  return out;
}

Result<std::string> BuildStream(Message message, const StreamSendOptions& o, NonceSource* nonces) {
  StreamFrame f;
  f.label = o.label;
  f.label_header = o.label_header && !o.label.empty();
  f.compressed = o.compress;
  if (o.keyring != nullptr && !o.keyring->empty()) {
    f.encryption = Encryption{o.encryption_version, {}, 0};
  }
  f.message = std::move(message);
  return EncodeStream(f, o.keyring, nonces);
}

#undef GW_RETURN_IF_ERROR

}  // namespace gangway::gossip
