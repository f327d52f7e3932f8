#include "net/client_hello.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "core/strings.h"

namespace gangway::net {
namespace {

using Bytes = std::span<const uint8_t>;

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr size_t kRecordHeader = 5;
constexpr size_t kHandshakeHeader = 4;
constexpr size_t kMaxRecordPayload = 1 << 14;  // TLSPlaintext.length, RFC 8446 §5.1
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxSessionId = 32;
constexpr size_t kMaxHostName = 255;
constexpr size_t kMaxLabel = 63;

constexpr uint16_t kExtServerName = 0;          // RFC 6066 §3
constexpr uint16_t kExtAlpn = 16;               // RFC 7301
constexpr uint16_t kExtSupportedVersions = 43;  // RFC 8446 §4.2.1
constexpr uint8_t kNameTypeHostName = 0;

struct Failure {
  HelloError error;
  std::string message;
};

std::string Hex(unsigned v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%0*x", digits, v);
  return buf;
}

// A bounded, log-safe rendering of peer bytes.
std::string Printable(Bytes b, size_t max = 64) {
  std::string out;
  for (size_t i = 0; i < b.size() && i < max; ++i) {
    const uint8_t c = b[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (b.size() > max) out += "...";
  return out;
}

// A cursor over a length-delimited block; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(Bytes b) : b_(b) {}

  bool empty() const { return pos_ == b_.size(); }
  size_t left() const { return b_.size() - pos_; }

  bool U8(uint8_t& v) {
    if (left() < 1) return false;
    v = b_[pos_++];
    return true;
  }
  bool U16(uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<uint16_t>(b_[pos_] << 8 | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool Take(size_t n, Bytes& out) {
    if (left() < n) return false;
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  // opaque x<0..2^8-1> and opaque x<0..2^16-1>.
  bool Vec8(Bytes& out) {
    uint8_t n = 0;
    return U8(n) && Take(n, out);
  }
  bool Vec16(Bytes& out) {
    uint16_t n = 0;
    return U16(n) && Take(n, out);
  }

 private:
  Bytes b_;
  size_t pos_ = 0;
};

Failure Short(const char* what) {
  return {HelloError::kBadLength, std::string(what) + " overruns its container"};
}

std::string_view AsChars(Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// RFC 6066 §3 and DNS syntax; "" when `name` is an acceptable SNI host name.
std::string HostNameProblem(std::string_view name) {
  if (name.empty()) return "empty host name";
  if (name.size() > kMaxHostName) {
    return "host name of " + std::to_string(name.size()) + " bytes (max 255)";
  }
  for (char ch : name) {
    const auto c = static_cast<uint8_t>(ch);
    if (c < 0x20 || c == 0x7f) return "control byte " + Hex(c, 2) + " in host name";
    if (c >= 0x80) return "non-ASCII byte " + Hex(c, 2) + " in host name (IDNs travel as xn--)";
  }
  if (name.back() == '.') return "host name ends with a dot";
  size_t start = 0;
  std::string_view last;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "empty label in host name";
    if (label.size() > kMaxLabel) return "label longer than 63 bytes in host name";
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok) return std::string("character '") + c + "' not allowed in host name";
    }
    if (label.front() == '-' || label.back() == '-') {
      return "label starts or ends with '-' in host name";
    }
    last = label;
    start = dot + 1;
  }
  // No top-level domain is all digits (RFC 3696 §2), so this is an address literal, which
  // RFC 6066 does not permit in HostName.
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "IP address literal as host name";
  }
  return "";
}

std::optional<Failure> ParseServerName(Bytes data, ClientHello& hello) {
  Reader r(data);
  Bytes list;
  if (!r.Vec16(list) || !r.empty()) return Short("server_name list");
  if (list.empty()) return Failure{HelloError::kBadServerName, "empty server_name list"};
  Reader l(list);
  bool have_host = false;
  while (!l.empty()) {
    uint8_t type = 0;
    Bytes name;
    if (!l.U8(type) || !l.Vec16(name)) return Short("server_name entry");
    // Other name types are skipped: RFC 6066 requires them to start with a 16-bit length.
    if (type != kNameTypeHostName) continue;
    if (have_host) {
      return Failure{HelloError::kBadServerName, "more than one host_name in server_name"};
    }
    if (std::string why = HostNameProblem(AsChars(name)); !why.empty()) {
      return Failure{HelloError::kBadServerName, why + ": \"" + Printable(name) + "\""};
    }
    hello.sni = ToLower(AsChars(name));
    have_host = true;
  }
  return std::nullopt;
}

std::optional<Failure> ParseAlpn(Bytes data, ClientHello& hello) {
  Reader r(data);
  Bytes list;
  if (!r.Vec16(list) || !r.empty()) return Short("ALPN protocol list");
  if (list.empty()) return Failure{HelloError::kBadExtension, "empty ALPN protocol list"};
  Reader l(list);
  while (!l.empty()) {
    Bytes name;
    if (!l.Vec8(name)) return Short("ALPN protocol name");
    if (name.empty()) return Failure{HelloError::kBadExtension, "empty ALPN protocol name"};
    hello.alpn.emplace_back(AsChars(name));
  }
  return std::nullopt;
}

std::optional<Failure> ParseSupportedVersions(Bytes data, ClientHello& hello) {
  Reader r(data);
  Bytes list;
  if (!r.Vec8(list) || !r.empty()) return Short("supported_versions list");
  if (list.size() % 2 != 0) {
    return Failure{HelloError::kBadLength, "supported_versions list of odd length"};
  }
  if (list.empty()) return Failure{HelloError::kBadExtension, "empty supported_versions list"};
  for (size_t i = 0; i < list.size(); i += 2) {
    hello.supported_versions.push_back(static_cast<uint16_t>(list[i] << 8 | list[i + 1]));
  }
  return std::nullopt;
}

// The ClientHello body after its handshake header (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
std::optional<Failure> ParseBody(Bytes body, ClientHello& hello) {
  Reader r(body);
  Bytes random, session_id, suites, compression;
  if (!r.U16(hello.legacy_version)) return Short("legacy_version");
  if (hello.legacy_version >> 8 != 3) {
    return Failure{HelloError::kNotClientHello,
                   "ClientHello version " + Hex(hello.legacy_version, 4) + " is not TLS"};
  }
  if (!r.Take(kRandomBytes, random)) return Short("random");
  if (!r.Vec8(session_id)) return Short("legacy_session_id");
  if (session_id.size() > kMaxSessionId) {
    return Failure{HelloError::kBadLength,
                   "legacy_session_id of " + std::to_string(session_id.size()) + " bytes (max 32)"};
  }
  if (!r.Vec16(suites)) return Short("cipher_suites");
  if (suites.empty() || suites.size() % 2 != 0) {
    return Failure{HelloError::kBadLength,
                   "cipher_suites of " + std::to_string(suites.size()) + " bytes"};
  }
  if (!r.Vec8(compression)) return Short("legacy_compression_methods");
  if (compression.empty()) {
    return Failure{HelloError::kBadLength, "empty legacy_compression_methods"};
  }
  // Hellos from before RFC 4366 may stop here; such a client sends no SNI.
  if (r.empty()) return std::nullopt;

  Bytes all;
  if (!r.Vec16(all)) return Short("extensions");
  if (!r.empty()) {
    return Failure{HelloError::kBadLength,
                   std::to_string(r.left()) + " bytes after the ClientHello's extensions"};
  }
  std::vector<std::pair<uint16_t, Bytes>> extensions;
  Reader e(all);
  while (!e.empty()) {
    uint16_t type = 0;
    Bytes data;
    if (!e.U16(type) || !e.Vec16(data)) return Short("extension");
    extensions.emplace_back(type, data);
  }
  // Checked before any content so the verdict does not depend on the extensions' order.
  std::vector<uint16_t> types;
  types.reserve(extensions.size());
  for (const auto& [type, data] : extensions) types.push_back(type);
  std::sort(types.begin(), types.end());
  if (auto dup = std::adjacent_find(types.begin(), types.end()); dup != types.end()) {
    return Failure{HelloError::kDuplicateExtension,
                   "extension " + std::to_string(*dup) + " appears more than once"};
  }
  for (const auto& [type, data] : extensions) {
    std::optional<Failure> f;
    if (type == kExtServerName) f = ParseServerName(data, hello);
    if (type == kExtAlpn) f = ParseAlpn(data, hello);
    if (type == kExtSupportedVersions) f = ParseSupportedVersions(data, hello);
    if (f) return f;
  }
  return std::nullopt;
}

PeekResult NeedMore(size_t n) {
  PeekResult r;
  r.kind = PeekResult::Kind::kNeedMore;
  r.need_at_least = n;
  return r;
}

PeekResult Fail(HelloError e, std::string message) {
  PeekResult r;
  r.kind = PeekResult::Kind::kError;
  r.error = e;
  r.message = std::move(message);
  return r;
}

PeekResult Fail(Failure f) { return Fail(f.error, std::move(f.message)); }

// The first byte is not a handshake record: tell an SSLv2 hello from anything else.
PeekResult NotHandshake(Bytes bytes) {
  // SSLv2 record header: 2 bytes, high bit set, then msg_type 1 (CLIENT-HELLO).
  if (bytes[0] & 0x80) {
    if (bytes.size() < 3) return NeedMore(3);
    if (bytes[2] == 1) {
      return Fail(HelloError::kSslv2, "SSLv2-style ClientHello; SSLv2 framing is not accepted");
    }
  }
  return Fail(HelloError::kNotHandshake,
              "not a TLS handshake record: \"" + Printable(bytes, 16) + "\"");
}

// The handshake message as reassembled from its fragments; copies only when there are two or
// more, which real clients rarely send.
class Assembly {
 public:
  void Append(Bytes fragment) {
    if (pieces_ == 0) {
      first_ = fragment;
    } else {
      if (pieces_ == 1) joined_.assign(first_.begin(), first_.end());
      joined_.insert(joined_.end(), fragment.begin(), fragment.end());
    }
    ++pieces_;
  }
  Bytes view() const { return pieces_ <= 1 ? first_ : Bytes(joined_); }

 private:
  size_t pieces_ = 0;
  Bytes first_;
  std::vector<uint8_t> joined_;
};

}  // namespace

std::string_view HelloErrorName(HelloError e) {
  switch (e) {
    case HelloError::kNotHandshake:
      return "not_handshake";
    case HelloError::kSslv2:
      return "sslv2";
    case HelloError::kBadRecord:
      return "bad_record";
    case HelloError::kNotClientHello:
      return "not_client_hello";
    case HelloError::kBadLength:
      return "bad_length";
    case HelloError::kTooLarge:
      return "too_large";
    case HelloError::kDuplicateExtension:
      return "duplicate_extension";
    case HelloError::kBadServerName:
      return "bad_server_name";
    case HelloError::kBadExtension:
      return "bad_extension";
  }
  return "unknown";
}

uint16_t ClientHello::HighestVersion() const {
  if (supported_versions.empty()) return legacy_version;
  uint16_t best = 0;
  for (uint16_t v : supported_versions) {
    const bool grease = (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
    if (!grease) best = std::max(best, v);
  }
  return best;
}

bool IsValidSniHostName(std::string_view name) { return HostNameProblem(name).empty(); }

PeekResult ParseClientHello(Bytes bytes, const HelloLimits& limits) {
  if (bytes.empty()) return NeedMore(1);
  if (bytes[0] != kHandshakeRecord) return NotHandshake(bytes);

  Assembly message;
  size_t assembled = 0;  // handshake bytes in the records seen, including ones not yet arrived
  size_t pos = 0;
  size_t records = 0;
  while (true) {
    // Record header, judged on as many of its bytes as have arrived.
    const size_t have = bytes.size() - pos;
    if (have >= 1 && bytes[pos] != kHandshakeRecord) {
      return Fail(HelloError::kBadRecord,
                  "record type " + std::to_string(bytes[pos]) + " interleaved in the ClientHello");
    }
    if (have >= 2 && bytes[pos + 1] != 3) {
      return Fail(HelloError::kBadRecord,
                  "record version " + Hex(bytes[pos + 1], 2) + "xx is not TLS");
    }
    if (have < kRecordHeader) return NeedMore(pos + kRecordHeader);
    const size_t length = static_cast<size_t>(bytes[pos + 3]) << 8 | bytes[pos + 4];
    if (length == 0) return Fail(HelloError::kBadRecord, "empty handshake record");
    if (length > kMaxRecordPayload) {
      return Fail(HelloError::kBadRecord,
                  "record of " + std::to_string(length) + " bytes (max 16384)");
    }
    if (++records > limits.max_records) {
      return Fail(HelloError::kTooLarge, "ClientHello spread over more than " +
                                             std::to_string(limits.max_records) + " records");
    }
    const size_t arrived = std::min(length, have - kRecordHeader);
    message.Append(bytes.subspan(pos + kRecordHeader, arrived));
    assembled += length;

    // Handshake header, judged as soon as its bytes are in.
    const Bytes m = message.view();
    if (!m.empty() && m[0] != kClientHelloType) {
      return Fail(HelloError::kNotClientHello,
                  "handshake message type " + std::to_string(m[0]) + ", not ClientHello (1)");
    }
    if (m.size() >= kHandshakeHeader) {
      const size_t total = kHandshakeHeader + (static_cast<size_t>(m[1]) << 16 |
                                               static_cast<size_t>(m[2]) << 8 | m[3]);
      if (total > limits.max_hello_bytes) {
        return Fail(HelloError::kTooLarge, "ClientHello of " + std::to_string(total) +
                                               " bytes (max " +
                                               std::to_string(limits.max_hello_bytes) + ")");
      }
      if (assembled > total) {
        return Fail(HelloError::kBadLength, "handshake records carry " +
                                                std::to_string(assembled - total) +
                                                " bytes after the ClientHello");
      }
      if (arrived == length && assembled == total) {
        PeekResult r;
        r.kind = PeekResult::Kind::kOk;
        if (auto f = ParseBody(m.subspan(kHandshakeHeader), r.hello)) return Fail(std::move(*f));
        r.hello.consumed = pos + kRecordHeader + length;
        r.hello.records = records;
        return r;
      }
    }
    if (arrived < length) return NeedMore(pos + kRecordHeader + length);
    pos += kRecordHeader + length;
  }
}

}  // namespace gangway::net
