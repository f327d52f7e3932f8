// The DNS message codec (RFC 1035, EDNS0 from RFC 6891, client subnet from RFC 7871): parses
// queries and responses from untrusted bytes and encodes answers with name compression. Plain
// values and pure functions, no allocation beyond the message's own strings; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway::dns {

enum Type : uint16_t {
  kA = 1,
  kNS = 2,
  kCNAME = 5,
  kSOA = 6,
  kPTR = 12,
  kMX = 15,
  kTXT = 16,
  kAAAA = 28,
  kSRV = 33,
  kOPT = 41,
  kAXFR = 252,
  kANY = 255,
};

enum Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNXDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

constexpr uint16_t kClassIN = 1;
// EDNS option codes this codec reads into fields of Edns.
constexpr uint16_t kOptionClientSubnet = 8;

// Names are in presentation form: dotted, case as on the wire, always ending with '.', the root
// is ".". Inside a label '.' and '\' are written "\." and "\\", and bytes outside '!'..'~' as
// "\DDD" (decimal), so every label byte string has exactly one spelling.
struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t qclass = kClassIN;
  bool operator==(const Question&) const = default;
};

struct ClientSubnet {
  uint16_t family = 0;  // 1: IPv4, 2: IPv6
  uint8_t source_prefix = 0;
  uint8_t scope_prefix = 0;
  std::string address;  // raw bytes as sent: ceil(source_prefix / 8) of them
  bool operator==(const ClientSubnet&) const = default;
};

// Any EDNS option other than those read into fields of Edns (e.g. a cookie, 10), kept in order.
struct EdnsOption {
  uint16_t code = 0;
  std::string data;
  bool operator==(const EdnsOption&) const = default;
};

struct Edns {
  uint16_t udp_size = 512;
  uint8_t version = 0;
  bool dnssec_ok = false;
  // The upper 8 bits of the 12-bit rcode, as carried in the OPT record. Encode also folds in
  // Header::rcode >> 4, so setting header.rcode = 16 (BADVERS) is enough.
  uint8_t extended_rcode = 0;
  std::optional<ClientSubnet> subnet;
  std::vector<EdnsOption> options;
  bool operator==(const Edns&) const = default;
};

struct Header {
  uint16_t id = 0;
  bool qr = false;
  uint8_t opcode = 0;
  bool aa = false, tc = false, rd = false, ra = false;
  uint8_t rcode = 0;  // the header's 4 bits when parsed; see Edns::extended_rcode
  bool operator==(const Header&) const = default;
};

struct Soa {
  std::string mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
  bool operator==(const Soa&) const = default;
};

struct Srv {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
  bool operator==(const Srv&) const = default;
};

// One resource record. Which fields carry the rdata depends on `type`; the others stay empty.
struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t rclass = kClassIN;
  uint32_t ttl = 0;
  std::array<uint8_t, 16> ip{};  // A: first 4 bytes; AAAA: 16
  std::string target;            // CNAME, PTR, NS; MX: the exchange
  uint16_t preference = 0;       // MX
  Srv srv;
  Soa soa;
  // TXT character-strings as parsed. Encode splits any longer than 255 bytes.
  std::vector<std::string> txt;
  std::string raw;  // rdata of any other type, as bytes
  bool operator==(const Record&) const = default;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answer, authority, additional;  // without the OPT record: see edns
  std::optional<Edns> edns;
  bool operator==(const Message&) const = default;
};

// Parses a whole message (query or response). Errors say what is wrong and where ("name
// compression loop at offset 12", "truncated question 1"). Never reads out of bounds and does
// bounded work on any input: compression pointers must point before the label sequence they
// are found in, a name has at most 127 labels, 127 pointers and 255 bytes, and the section
// counts must fit the bytes that follow the header. The OPT record is taken out of the
// additional section into `edns`; a second one is an error. Rdata of known types must be
// consumed exactly; that of other types is kept in Record::raw. Bytes after the last record
// are ignored.
Result<Message> Parse(std::span<const uint8_t> bytes);

// The id of a message whose header at least starts (2+ bytes), for a FORMERR answer to garbage.
std::optional<uint16_t> PeekId(std::span<const uint8_t> bytes);

// Whether `name` (presentation form, the trailing '.' optional) can be encoded: escapes well
// formed, no empty label but the root, labels of at most 63 bytes, at most 255 bytes in all.
Status ValidateName(std::string_view name);

// Encodes `m` into *out (cleared first), compressing names unless `compress` is false. Names
// are compressed against earlier names whose bytes are identical (so case is kept exactly), at
// offsets below 0x3FFF; SRV targets are never compressed (RFC 2782). The OPT record is written
// from `edns`, when set, last in the additional section. Every name must pass ValidateName,
// every section hold at most 65535 entries and every rdata at most 65535 bytes: the callers
// check, and a violation stops the process rather than send a corrupt or silently cut answer.
void Encode(const Message& m, bool compress, std::string* out);

// The size Encode(m, /*compress=*/false, ...) would produce, without encoding; what Consul
// measures to decide on truncation.
size_t UncompressedSize(const Message& m);

}  // namespace gangway::dns
