#include "dns/message.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/check.h"

namespace gangway::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxName = 255;    // wire bytes, with the length bytes and the final zero
constexpr int kMaxPointers = 127;   // per name; a name has at most 127 labels anyway
constexpr size_t kMinQuestion = 5;  // a root or pointer name (1+), type, class
constexpr size_t kMinRecord = 11;   // name (1+), type, class, ttl, rdlength
constexpr size_t kMaxPointerTarget = 0x3FFF;
// A name in presentation form is at most 4 characters per wire byte (\DDD).
constexpr size_t kMaxNameText = 4 * kMaxName;

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

std::string At(size_t offset) { return " at offset " + std::to_string(offset); }

// Reads the name starting at *pos, whose inline part must end before `end` (the end of the
// rdata holding it, or of the message), into *out in presentation form; moves *pos past it.
// Each compression pointer must point before the start of the label sequence it ends, so the
// positions read strictly decrease from jump to jump and no input loops.
Status ReadName(std::span<const uint8_t> msg, size_t* pos, size_t end, std::string* out) {
  char text[kMaxNameText + 1];
  size_t n = 0;
  size_t p = *pos;
  size_t segment = p;
  size_t limit = end;
  size_t wire = 0;
  int pointers = 0;
  size_t resume = 0;  // where the caller continues: after the first pointer, if any
  while (true) {
    if (p >= limit) return InvalidArgument("truncated name" + At(*pos));
    const uint8_t len = msg[p];
    if ((len & 0xC0) == 0xC0) {
      if (p + 1 >= limit) return InvalidArgument("truncated compression pointer" + At(p));
      const size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[p + 1];
      if (target > p) return InvalidArgument("compression pointer forward" + At(p));
      if (target >= segment) return InvalidArgument("name compression loop" + At(p));
      if (target < kHeaderSize)
        return InvalidArgument("compression pointer into the header" + At(p));
      if (++pointers > kMaxPointers) {
        return InvalidArgument("more than 127 compression pointers in the name" + At(*pos));
      }
      if (resume == 0) resume = p + 2;
      p = segment = target;
      limit = msg.size();
      continue;
    }
    if (len & 0xC0) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", len);
      return InvalidArgument("label longer than 63 bytes or of an unsupported type (length byte " +
                             std::string(hex) + ")" + At(p));
    }
    wire += len + 1;
    if (wire > kMaxName) return InvalidArgument("name longer than 255 bytes" + At(*pos));
    if (len == 0) break;
    if (p + 1 + len > limit) return InvalidArgument("truncated label" + At(p));
    for (size_t i = p + 1; i <= p + len; ++i) {
      const uint8_t c = msg[i];
      if (c == '.' || c == '\\') {
        text[n++] = '\\';
        text[n++] = static_cast<char>(c);
      } else if (c < 0x21 || c > 0x7e) {
        text[n++] = '\\';
        text[n++] = static_cast<char>('0' + c / 100);
        text[n++] = static_cast<char>('0' + c / 10 % 10);
        text[n++] = static_cast<char>('0' + c % 10);
      } else {
        text[n++] = static_cast<char>(c);
      }
    }
    text[n++] = '.';
    p += 1 + len;
  }
  if (n == 0) text[n++] = '.';
  out->assign(text, n);
  *pos = resume != 0 ? resume : p + 1;
  return Status::Ok();
}

// A name in wire form, uncompressed, with where each label starts.
struct WireName {
  uint8_t bytes[kMaxName + 1];
  size_t size = 0;
  uint8_t starts[kMaxName / 2 + 1];
  size_t labels = 0;
};

// Converts presentation form to wire form; returns what is wrong, or nullptr.
const char* ToWire(std::string_view text, WireName* w) {
  w->size = 0;
  w->labels = 0;
  if (text.empty()) return "empty name (the root is \".\")";
  if (text == ".") {
    w->bytes[w->size++] = 0;
    return nullptr;
  }
  size_t i = 0;
  while (i < text.size()) {
    if (w->size >= kMaxName) return "name longer than 255 bytes";
    const size_t len_at = w->size++;
    size_t len = 0;
    while (i < text.size() && text[i] != '.') {
      uint8_t c = static_cast<uint8_t>(text[i]);
      if (c == '\\') {
        if (i + 1 >= text.size()) return "name ends in a lone backslash";
        const auto digit = [&](size_t k) { return text[k] >= '0' && text[k] <= '9'; };
        if (digit(i + 1)) {
          if (i + 3 >= text.size() || !digit(i + 2) || !digit(i + 3)) {
            return "bad \\DDD escape (three decimal digits)";
          }
          const int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
          if (v > 255) return "bad \\DDD escape (more than 255)";
          c = static_cast<uint8_t>(v);
          i += 4;
        } else {
          c = static_cast<uint8_t>(text[i + 1]);
          i += 2;
        }
      } else {
        ++i;
      }
      if (++len > 63) return "label longer than 63 bytes";
      if (w->size >= kMaxName) return "name longer than 255 bytes";
      w->bytes[w->size++] = c;
    }
    if (len == 0) return "empty label";
    w->bytes[len_at] = static_cast<uint8_t>(len);
    w->starts[w->labels++] = static_cast<uint8_t>(len_at);
    if (i < text.size()) ++i;  // the '.'
  }
  if (w->size >= kMaxName) return "name longer than 255 bytes";
  w->bytes[w->size++] = 0;
  return nullptr;
}

size_t NameSize(std::string_view text) {
  WireName w;
  if (ToWire(text, &w) != nullptr) return text.size() + 2;  // cannot be encoded anyway
  return w.size;
}

size_t TxtSize(const std::vector<std::string>& txt) {
  size_t n = 0;
  for (const std::string& s : txt) {
    // One length byte per started 255 bytes; an empty string is one length byte.
    n += s.size() + (s.empty() ? 1 : (s.size() + 254) / 255);
  }
  return n;
}

size_t RdataSize(const Record& r) {
  switch (r.type) {
    case kA:
      return 4;
    case kAAAA:
      return 16;
    case kNS:
    case kCNAME:
    case kPTR:
      return NameSize(r.target);
    case kMX:
      return 2 + NameSize(r.target);
    case kSRV:
      return 6 + NameSize(r.srv.target);
    case kSOA:
      return NameSize(r.soa.mname) + NameSize(r.soa.rname) + 20;
    case kTXT:
      return TxtSize(r.txt);
    default:
      return r.raw.size();
  }
}

size_t OptSize(const Edns& e) {
  size_t n = 11;
  if (e.subnet) n += 4 + 4 + e.subnet->address.size();
  for (const EdnsOption& o : e.options) n += 4 + o.data.size();
  return n;
}

const char* SectionName(int section) {
  static constexpr const char* kNames[] = {"answer", "authority", "additional"};
  return kNames[section];
}

Status ParseEdns(std::span<const uint8_t> b, size_t start, size_t end, uint16_t rclass,
                 uint32_t ttl, Edns* e) {
  e->udp_size = rclass;
  e->extended_rcode = static_cast<uint8_t>(ttl >> 24);
  e->version = static_cast<uint8_t>(ttl >> 16);
  e->dnssec_ok = (ttl & 0x8000) != 0;
  size_t p = start;
  while (p < end) {
    if (p + 4 > end) return InvalidArgument("truncated EDNS option" + At(p));
    const uint16_t code = Load16(&b[p]);
    const uint16_t len = Load16(&b[p + 2]);
    p += 4;
    if (p + len > end) return InvalidArgument("EDNS option runs past the OPT record" + At(p - 4));
    const uint8_t* d = &b[p];
    if (code == kOptionClientSubnet) {
      if (e->subnet) return InvalidArgument("second client subnet option" + At(p - 4));
      if (len < 4) return InvalidArgument("truncated client subnet option" + At(p - 4));
      ClientSubnet s;
      s.family = Load16(d);
      s.source_prefix = d[2];
      s.scope_prefix = d[3];
      const size_t max_prefix = s.family == 1 ? 32 : s.family == 2 ? 128 : 0;
      if (max_prefix == 0) {
        return InvalidArgument("client subnet family " + std::to_string(s.family) +
                               " is neither 1 (IPv4) nor 2 (IPv6)" + At(p - 4));
      }
      if (s.source_prefix > max_prefix || s.scope_prefix > max_prefix) {
        return InvalidArgument("client subnet prefix longer than the address" + At(p - 4));
      }
      if (len - 4u != (s.source_prefix + 7u) / 8) {
        return InvalidArgument("client subnet address of " + std::to_string(len - 4) +
                               " bytes for a /" + std::to_string(s.source_prefix) + At(p - 4));
      }
      s.address.assign(reinterpret_cast<const char*>(d + 4), len - 4u);
      e->subnet = std::move(s);
    } else {
      e->options.push_back({code, std::string(reinterpret_cast<const char*>(d), len)});
    }
    p += len;
  }
  return Status::Ok();
}

// Parses the rdata of a known type in [start, end) into r; other types go to r->raw.
Status ParseRdata(std::span<const uint8_t> b, size_t start, size_t end, Record* r) {
  const size_t len = end - start;
  size_t p = start;
  auto fixed = [&](size_t want) -> Status {
    if (len != want) {
      return InvalidArgument("rdata of " + std::to_string(len) + " bytes for type " +
                             std::to_string(r->type) + ", expected " + std::to_string(want));
    }
    return Status::Ok();
  };
  Status s;
  switch (r->type) {
    case kA:
      if (s = fixed(4); !s.ok()) return s;
      std::memcpy(r->ip.data(), &b[p], 4);
      return Status::Ok();
    case kAAAA:
      if (s = fixed(16); !s.ok()) return s;
      std::memcpy(r->ip.data(), &b[p], 16);
      return Status::Ok();
    case kNS:
    case kCNAME:
    case kPTR:
      s = ReadName(b, &p, end, &r->target);
      break;
    case kMX:
      if (len < 2) return InvalidArgument("truncated MX rdata");
      r->preference = Load16(&b[p]);
      p += 2;
      s = ReadName(b, &p, end, &r->target);
      break;
    case kSRV:
      if (len < 6) return InvalidArgument("truncated SRV rdata");
      r->srv.priority = Load16(&b[p]);
      r->srv.weight = Load16(&b[p + 2]);
      r->srv.port = Load16(&b[p + 4]);
      p += 6;
      s = ReadName(b, &p, end, &r->srv.target);
      break;
    case kSOA:
      if (s = ReadName(b, &p, end, &r->soa.mname); !s.ok()) return s;
      if (s = ReadName(b, &p, end, &r->soa.rname); !s.ok()) return s;
      if (end - p < 20) return InvalidArgument("truncated SOA rdata");
      r->soa.serial = Load32(&b[p]);
      r->soa.refresh = Load32(&b[p + 4]);
      r->soa.retry = Load32(&b[p + 8]);
      r->soa.expire = Load32(&b[p + 12]);
      r->soa.minimum = Load32(&b[p + 16]);
      p += 20;
      break;
    case kTXT:
      while (p < end) {
        const size_t n = b[p];
        if (p + 1 + n > end) return InvalidArgument("truncated TXT string" + At(p));
        r->txt.emplace_back(reinterpret_cast<const char*>(&b[p + 1]), n);
        p += 1 + n;
      }
      break;
    default:
      r->raw.assign(reinterpret_cast<const char*>(&b[start]), len);
      return Status::Ok();
  }
  if (!s.ok()) return s;
  if (p != end) {
    return InvalidArgument("rdata length " + std::to_string(len) + " for type " +
                           std::to_string(r->type) + " but " + std::to_string(p - start) +
                           " bytes used");
  }
  return Status::Ok();
}

Status Context(const Status& s, const char* what, size_t index) {
  return InvalidArgument(std::string(what) + " " + std::to_string(index) + ": " + s.message());
}

// Writes a message into a string, remembering where names were written for compression.
class Writer {
 public:
  Writer(std::string* out, bool compress) : out_(out), compress_(compress) {}

  size_t size() const { return out_->size(); }
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out_->append(b, 2);
  }
  void U32(uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out_->append(b, 4);
  }
  void Bytes(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  void Patch16(size_t at, uint16_t v) {
    (*out_)[at] = static_cast<char>(v >> 8);
    (*out_)[at + 1] = static_cast<char>(v);
  }

  // `may_point`: whether this name may end in a pointer (it may be pointed to either way).
  void Name(std::string_view text, bool may_point) {
    WireName w;
    const char* error = ToWire(text, &w);
    GANGWAY_CHECK(error == nullptr) << "encoding an invalid DNS name: " << error;
    size_t inline_labels = w.labels;
    size_t entry = kNoEntry;
    if (compress_ && may_point) {
      for (size_t i = 0; i < w.labels && entry == kNoEntry; ++i) {
        entry = Find(w.bytes + w.starts[i], w.size - w.starts[i]);
        if (entry != kNoEntry) inline_labels = i;
      }
    }
    const size_t base = out_->size();
    const size_t inline_size = inline_labels < w.labels ? w.starts[inline_labels] : w.size;
    Bytes(w.bytes, inline_size);
    if (entry != kNoEntry) U16(static_cast<uint16_t>(0xC000 | table_[entry].offset));
    if (!compress_) return;
    for (size_t i = 0; i < inline_labels && entries_ < kTableSize; ++i) {
      const size_t offset = base + w.starts[i];
      if (offset > kMaxPointerTarget) break;
      table_[entries_++] = {static_cast<uint16_t>(offset),
                            static_cast<uint16_t>(w.size - w.starts[i])};
    }
  }

 private:
  static constexpr size_t kTableSize = 64;
  static constexpr size_t kNoEntry = kTableSize;
  struct Entry {
    uint16_t offset;  // in the message
    uint16_t size;    // of the name there, uncompressed
  };

  // The entry whose name is byte for byte `wire` (uncompressed, `size` bytes), if any.
  size_t Find(const uint8_t* wire, size_t size) const {
    const auto* o = reinterpret_cast<const uint8_t*>(out_->data());
    for (size_t e = 0; e < entries_; ++e) {
      if (table_[e].size != size) continue;
      size_t off = table_[e].offset;
      const uint8_t* s = wire;
      while (true) {
        const uint8_t len = o[off];
        if ((len & 0xC0) == 0xC0) {
          off = static_cast<size_t>(len & 0x3F) << 8 | o[off + 1];
          continue;
        }
        if (len != *s) break;
        if (len == 0) return e;
        if (std::memcmp(o + off + 1, s + 1, len) != 0) break;
        off += len + 1;
        s += len + 1;
      }
    }
    return kNoEntry;
  }

  std::string* out_;
  bool compress_;
  Entry table_[kTableSize];
  size_t entries_ = 0;
};

void WriteTxt(Writer& w, const std::vector<std::string>& txt) {
  for (const std::string& s : txt) {
    if (s.empty()) {
      w.U8(0);
      continue;
    }
    for (size_t at = 0; at < s.size(); at += 255) {
      const size_t n = std::min<size_t>(255, s.size() - at);
      w.U8(static_cast<uint8_t>(n));
      w.Bytes(s.data() + at, n);
    }
  }
}

void WriteRecord(Writer& w, const Record& r) {
  w.Name(r.name, true);
  w.U16(r.type);
  w.U16(r.rclass);
  w.U32(r.ttl);
  const size_t length_at = w.size();
  w.U16(0);
  const size_t start = w.size();
  switch (r.type) {
    case kA:
      w.Bytes(r.ip.data(), 4);
      break;
    case kAAAA:
      w.Bytes(r.ip.data(), 16);
      break;
    case kNS:
    case kCNAME:
    case kPTR:
      w.Name(r.target, true);
      break;
    case kMX:
      w.U16(r.preference);
      w.Name(r.target, true);
      break;
    case kSRV:
      w.U16(r.srv.priority);
      w.U16(r.srv.weight);
      w.U16(r.srv.port);
      w.Name(r.srv.target, false);
      break;
    case kSOA:
      w.Name(r.soa.mname, true);
      w.Name(r.soa.rname, true);
      w.U32(r.soa.serial);
      w.U32(r.soa.refresh);
      w.U32(r.soa.retry);
      w.U32(r.soa.expire);
      w.U32(r.soa.minimum);
      break;
    case kTXT:
      WriteTxt(w, r.txt);
      break;
    default:
      w.Bytes(r.raw.data(), r.raw.size());
      break;
  }
  const size_t length = w.size() - start;
  GANGWAY_CHECK(length <= 0xFFFF) << "DNS rdata of " << length << " bytes for " << r.name;
  w.Patch16(length_at, static_cast<uint16_t>(length));
}

void WriteOpt(Writer& w, const Edns& e, uint8_t rcode) {
  w.U8(0);
  w.U16(kOPT);
  w.U16(e.udp_size);
  const uint32_t extended = static_cast<uint32_t>(e.extended_rcode | (rcode >> 4)) & 0xFF;
  w.U32(extended << 24 | static_cast<uint32_t>(e.version) << 16 | (e.dnssec_ok ? 0x8000u : 0u));
  const size_t length = OptSize(e) - 11;
  GANGWAY_CHECK(length <= 0xFFFF) << "EDNS options of " << length << " bytes";
  w.U16(static_cast<uint16_t>(length));
  if (e.subnet) {
    w.U16(kOptionClientSubnet);
    w.U16(static_cast<uint16_t>(4 + e.subnet->address.size()));
    w.U16(e.subnet->family);
    w.U8(e.subnet->source_prefix);
    w.U8(e.subnet->scope_prefix);
    w.Bytes(e.subnet->address.data(), e.subnet->address.size());
  }
  for (const EdnsOption& o : e.options) {
    w.U16(o.code);
    w.U16(static_cast<uint16_t>(o.data.size()));
    w.Bytes(o.data.data(), o.data.size());
  }
}

uint16_t Count(size_t n, const char* what) {
  GANGWAY_CHECK(n <= 0xFFFF) << n << " DNS " << what << " in one message";
  return static_cast<uint16_t>(n);
}

}  // namespace

Result<Message> Parse(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) {
    return InvalidArgument("truncated header: " + std::to_string(b.size()) + " bytes of 12");
  }
  Message m;
  m.header.id = Load16(&b[0]);
  const uint16_t flags = Load16(&b[2]);
  m.header.qr = (flags & 0x8000) != 0;
  m.header.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  m.header.aa = (flags & 0x0400) != 0;
  m.header.tc = (flags & 0x0200) != 0;
  m.header.rd = (flags & 0x0100) != 0;
  m.header.ra = (flags & 0x0080) != 0;
  m.header.rcode = static_cast<uint8_t>(flags & 0xF);
  const size_t qd = Load16(&b[4]);
  const size_t counts[3] = {Load16(&b[6]), Load16(&b[8]), Load16(&b[10])};
  const size_t records = counts[0] + counts[1] + counts[2];
  // Checked before anything is reserved, so a 12-byte packet cannot claim 65535 of anything.
  if (qd * kMinQuestion + records * kMinRecord > b.size() - kHeaderSize) {
    return InvalidArgument("header claims " + std::to_string(qd) + " questions and " +
                           std::to_string(records) + " records, more than the " +
                           std::to_string(b.size() - kHeaderSize) + " bytes after it can hold");
  }

  size_t pos = kHeaderSize;
  m.questions.resize(qd);
  for (size_t i = 0; i < qd; ++i) {
    Question& q = m.questions[i];
    if (Status s = ReadName(b, &pos, b.size(), &q.name); !s.ok())
      return Context(s, "question", i + 1);
    if (b.size() - pos < 4) return InvalidArgument("truncated question " + std::to_string(i + 1));
    q.type = Load16(&b[pos]);
    q.qclass = Load16(&b[pos + 2]);
    pos += 4;
  }

  std::vector<Record>* sections[3] = {&m.answer, &m.authority, &m.additional};
  for (int sec = 0; sec < 3; ++sec) {
    std::vector<Record>& out = *sections[sec];
    out.reserve(counts[sec]);
    for (size_t i = 0; i < counts[sec]; ++i) {
      // Built only on failure: the section names do not fit a short string.
      const auto fail = [&](std::string_view message) {
        return InvalidArgument(std::string(SectionName(sec)) + " record " + std::to_string(i + 1) +
                               ": " + std::string(message));
      };
      Record& r = out.emplace_back();
      if (Status s = ReadName(b, &pos, b.size(), &r.name); !s.ok()) return fail(s.message());
      if (b.size() - pos < 10) {
        return InvalidArgument("truncated " + std::string(SectionName(sec)) + " record " +
                               std::to_string(i + 1));
      }
      r.type = Load16(&b[pos]);
      r.rclass = Load16(&b[pos + 2]);
      r.ttl = Load32(&b[pos + 4]);
      const size_t rdlength = Load16(&b[pos + 8]);
      pos += 10;
      if (rdlength > b.size() - pos) {
        return fail("rdata of " + std::to_string(rdlength) +
                    " bytes runs past the end of the message (" + std::to_string(b.size() - pos) +
                    " bytes left)");
      }
      const size_t end = pos + rdlength;
      if (r.type == kOPT) {
        if (sec != 2) return fail("OPT record outside the additional section");
        if (m.edns) return fail("second OPT record");
        if (r.name != ".") return fail("OPT record owned by " + r.name + ", not the root");
        if (Status s = ParseEdns(b, pos, end, r.rclass, r.ttl, &m.edns.emplace()); !s.ok()) {
          return fail(s.message());
        }
        out.pop_back();
      } else if (Status s = ParseRdata(b, pos, end, &r); !s.ok()) {
        return fail(s.message());
      }
      pos = end;
    }
  }
  return m;
}

std::optional<uint16_t> PeekId(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return std::nullopt;
  return Load16(bytes.data());
}

Status ValidateName(std::string_view name) {
  WireName w;
  if (const char* error = ToWire(name, &w); error != nullptr) {
    return InvalidArgument(std::string(error) + " in DNS name");
  }
  return Status::Ok();
}

void Encode(const Message& m, bool compress, std::string* out) {
  out->clear();
  out->reserve(512);  // a no-op for a caller that reuses *out
  Writer w(out, compress);
  const Header& h = m.header;
  w.U16(h.id);
  w.U16(static_cast<uint16_t>((h.qr ? 0x8000 : 0) | (h.opcode & 0xF) << 11 | (h.aa ? 0x0400 : 0) |
                              (h.tc ? 0x0200 : 0) | (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) |
                              (h.rcode & 0xF)));
  w.U16(Count(m.questions.size(), "questions"));
  w.U16(Count(m.answer.size(), "answer records"));
  w.U16(Count(m.authority.size(), "authority records"));
  w.U16(Count(m.additional.size() + (m.edns ? 1 : 0), "additional records"));
  for (const Question& q : m.questions) {
    w.Name(q.name, true);
    w.U16(q.type);
    w.U16(q.qclass);
  }
  for (const Record& r : m.answer) WriteRecord(w, r);
  for (const Record& r : m.authority) WriteRecord(w, r);
  for (const Record& r : m.additional) WriteRecord(w, r);
  if (m.edns) WriteOpt(w, *m.edns, h.rcode);
}

size_t UncompressedSize(const Message& m) {
  size_t n = kHeaderSize;
  for (const Question& q : m.questions) n += NameSize(q.name) + 4;
  for (const auto* section : {&m.answer, &m.authority, &m.additional}) {
    for (const Record& r : *section) n += NameSize(r.name) + 10 + RdataSize(r);
  }
  if (m.edns) n += OptSize(*m.edns);
  return n;
}

}  // namespace gangway::dns
