#include "rpc/frame.h"

#include "core/endian.h"
#include "codec/msgpack.h"

namespace gangway::rpc {

namespace msgpack = codec::msgpack;

namespace {



const char* KindName(uint8_t k) {
  switch (k) {
    case 0: return "request";
    case 1: return "response";
    case 2: return "error";
    case 3: return "cancel";
  }
  return "unknown";
}

// Limits for bodies: the frame already bounds the bytes; this bounds the work.
msgpack::Limits BodyLimits() {
  msgpack::Limits l;
  l.max_depth = 8;
  l.max_container_len = 1 << 16;
  l.max_values = 1 << 18;
  return l;
}

Result<msgpack::Value> ReadMap(std::string_view bytes, const char* what) {
  msgpack::Reader r(bytes, BodyLimits());
  auto v = r.ReadValue();
  if (!v.ok()) return InvalidArgument(std::string(what) + ": " + v.status().message());
  if (v->kind() != msgpack::Value::Kind::kMap) {
    return InvalidArgument(std::string(what) + ": expected a map");
  }
  if (!r.at_end()) {
    return InvalidArgument(std::string(what) + ": " + std::to_string(r.remaining()) +
                           " trailing bytes");
  }
  return v;
}

Status GetString(const msgpack::Value& m, const char* key, const char* what, std::string* out,
                 bool required) {
  const msgpack::Value* v = m.Find(key);
  if (!v || v->is_nil()) {
    if (required) return InvalidArgument(std::string(what) + ": missing " + key);
    return Status::Ok();
  }
  if (v->kind() != msgpack::Value::Kind::kRaw) {
    return InvalidArgument(std::string(what) + ": " + key + " must be a string");
  }
  *out = v->as_raw();
  return Status::Ok();
}

Status GetInt(const msgpack::Value& m, const char* key, const char* what, int64_t min,
              int64_t max, int64_t* out) {
  const msgpack::Value* v = m.Find(key);
  if (!v || v->is_nil()) return Status::Ok();
  int64_t x = 0;
  if (v->kind() == msgpack::Value::Kind::kUint && v->as_uint() <= static_cast<uint64_t>(INT64_MAX)) {
    x = static_cast<int64_t>(v->as_uint());
  } else if (v->kind() == msgpack::Value::Kind::kInt) {
    x = v->as_int();
  } else {
    return InvalidArgument(std::string(what) + ": " + key + " must be an integer");
  }
  if (x < min || x > max) {
    return InvalidArgument(std::string(what) + ": " + key + " out of range: " + std::to_string(x));
  }
  *out = x;
  return Status::Ok();
}

}  // namespace

std::string EncodeFrame(const Frame& f) {
  std::string out;
  size_t payload = f.body.size();
  if (f.kind == FrameKind::kRequest) payload += 1 + f.method.size();
  if (f.kind == FrameKind::kError) payload += 1;
  if (f.kind == FrameKind::kCancel) payload = 0;
  out.reserve(kFrameHeader + payload);
  AppendBigEndian(&out, 1 + 8 + payload, 4);
  out.push_back(static_cast<char>(f.kind));
  AppendBigEndian(&out, f.seq, 8);
  switch (f.kind) {
    case FrameKind::kRequest:
      out.push_back(static_cast<char>(f.method.size()));
      out += f.method;
      out += f.body;
      break;
    case FrameKind::kResponse:
      out += f.body;
      break;
    case FrameKind::kError:
      out.push_back(static_cast<char>(f.code));
      out += f.body;
      break;
    case FrameKind::kCancel:
      break;
  }
  return out;
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (!failed_.ok()) return failed_;
  auto fail = [this](std::string what) -> Status {
    failed_ = InvalidArgument("rpc: " + what);
    return failed_;
  };
  std::string_view b(buf_);
  b.remove_prefix(pos_);
  if (b.size() < 4) return std::optional<Frame>();
  uint64_t len = LoadBigEndian(b, 4);
  if (len < 9) return fail("frame length " + std::to_string(len) + " is below the 9-byte minimum");
  if (len > kMaxFrame) {
    return fail("frame length " + std::to_string(len) + " exceeds the limit of " +
                std::to_string(kMaxFrame));
  }
  if (b.size() < 4 + len) return std::optional<Frame>();
  std::string_view body = b.substr(4, len);
  Frame f;
  uint8_t kind = static_cast<uint8_t>(body[0]);
  if (kind > static_cast<uint8_t>(FrameKind::kCancel)) {
    return fail("unknown frame kind " + std::to_string(kind));
  }
  f.kind = static_cast<FrameKind>(kind);
  f.seq = LoadBigEndian(body.substr(1), 8);
  std::string_view payload = body.substr(9);
  switch (f.kind) {
    case FrameKind::kRequest: {
      if (payload.empty()) return fail("request frame without a method");
      size_t mlen = static_cast<uint8_t>(payload[0]);
      if (mlen == 0) return fail("request frame with an empty method");
      if (1 + mlen > payload.size()) {
        return fail("method length " + std::to_string(mlen) + " runs past the " + KindName(kind) +
                    " frame");
      }
      f.method.assign(payload.substr(1, mlen));
      f.body.assign(payload.substr(1 + mlen));
      break;
    }
    case FrameKind::kResponse:
      f.body.assign(payload);
      break;
    case FrameKind::kError: {
      if (payload.empty()) return fail("error frame without a code");
      uint8_t code = static_cast<uint8_t>(payload[0]);
      if (code == 0 || code > static_cast<uint8_t>(kLastCode)) {
        return fail("error frame with unknown code " + std::to_string(code));
      }
      f.code = static_cast<Code>(code);
      f.body.assign(payload.substr(1));
      break;
    }
    case FrameKind::kCancel:
      if (!payload.empty()) return fail("cancel frame with a payload");
      break;
  }
  pos_ += 4 + len;
  // Compact once the consumed prefix dominates the buffer.
  if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<Frame>(std::move(f));
}

bool Retryable(const Status& s) {
  return s.code() == Code::kNoLeader || s.code() == Code::kPeerUnreachable;
}

std::string EncodeForwardedRequest(const ForwardedRequest& r) {
  std::string out;
  msgpack::Writer w(&out);
  w.MapHeader(5);
  w.Raw("Method");
  w.Raw(r.method);
  w.Raw("Target");
  w.Raw(r.target);
  w.Raw("Headers");
  w.MapHeader(r.headers.size());
  for (const auto& [k, v] : r.headers) {
    w.Raw(k);
    w.Raw(v);
  }
  w.Raw("Body");
  w.Raw(r.body);
  w.Raw("Hops");
  w.Int(r.hops);
  return out;
}

Result<ForwardedRequest> DecodeForwardedRequest(std::string_view bytes) {
  const char* what = "forwarded request";
  auto m = ReadMap(bytes, what);
  if (!m.ok()) return m.status();
  ForwardedRequest r;
  if (Status s = GetString(*m, "Method", what, &r.method, true); !s.ok()) return s;
  if (Status s = GetString(*m, "Target", what, &r.target, true); !s.ok()) return s;
  if (r.method.empty()) return InvalidArgument("forwarded request: empty Method");
  if (r.target.empty() || r.target[0] != '/') {
    return InvalidArgument("forwarded request: Target must start with '/'");
  }
  if (Status s = GetString(*m, "Body", what, &r.body, false); !s.ok()) return s;
  int64_t hops = 0;
  if (Status s = GetInt(*m, "Hops", what, 0, 255, &hops); !s.ok()) return s;
  r.hops = static_cast<int>(hops);
  if (const msgpack::Value* h = m->Find("Headers"); h && !h->is_nil()) {
    if (h->kind() != msgpack::Value::Kind::kMap) {
      return InvalidArgument("forwarded request: Headers must be a map");
    }
    for (const auto& [k, v] : h->as_map()) {
      if (k.kind() != msgpack::Value::Kind::kRaw || v.kind() != msgpack::Value::Kind::kRaw) {
        return InvalidArgument("forwarded request: header names and values must be strings");
      }
      r.headers[k.as_raw()] = v.as_raw();
    }
  }
  return r;
}

std::string EncodeForwardedResponse(const ForwardedResponse& r) {
  std::string out;
  msgpack::Writer w(&out);
  w.MapHeader(3);
  w.Raw("Status");
  w.Int(r.status);
  w.Raw("Headers");
  w.ArrayHeader(r.headers.size());
  for (const auto& [k, v] : r.headers) {
    w.ArrayHeader(2);
    w.Raw(k);
    w.Raw(v);
  }
  w.Raw("Body");
  w.Raw(r.body);
  return out;
}

Result<ForwardedResponse> DecodeForwardedResponse(std::string_view bytes) {
  const char* what = "forwarded response";
  auto m = ReadMap(bytes, what);
  if (!m.ok()) return m.status();
  ForwardedResponse r;
  int64_t status = 0;
  if (Status s = GetInt(*m, "Status", what, 100, 599, &status); !s.ok()) return s;
  if (status == 0) return InvalidArgument("forwarded response: missing Status");
  r.status = static_cast<int>(status);
  if (Status s = GetString(*m, "Body", what, &r.body, false); !s.ok()) return s;
  if (const msgpack::Value* h = m->Find("Headers"); h && !h->is_nil()) {
    if (h->kind() != msgpack::Value::Kind::kArray) {
      return InvalidArgument("forwarded response: Headers must be an array");
    }
    for (const auto& pair : h->as_array()) {
      if (pair.kind() != msgpack::Value::Kind::kArray || pair.as_array().size() != 2 ||
          pair.as_array()[0].kind() != msgpack::Value::Kind::kRaw ||
          pair.as_array()[1].kind() != msgpack::Value::Kind::kRaw) {
        return InvalidArgument("forwarded response: each header must be a [name, value] pair");
      }
      r.headers.emplace_back(pair.as_array()[0].as_raw(), pair.as_array()[1].as_raw());
    }
  }
  return r;
}

}  // namespace gangway::rpc
