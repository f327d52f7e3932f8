#include "codec/msgpack.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/endian.h"

namespace gangway::codec::msgpack {

const Value* Value::Find(std::string_view key) const {
  if (kind() != Kind::kMap) return nullptr;
  for (const auto& [k, v] : as_map()) {
    if (k.kind() == Kind::kRaw && k.as_raw() == key) return &v;
  }
  return nullptr;
}

// ----------------------------------------------------------------------------------------------
// Writer

void Writer::Be(uint64_t v, int bytes) { AppendBigEndian(out_, v, static_cast<size_t>(bytes)); }

void Writer::Nil() { Byte(0xc0); }
void Writer::Bool(bool b) { Byte(b ? 0xc3 : 0xc2); }

void Writer::Uint(uint64_t u) {
  if (u <= 0x7f) {
    Byte(static_cast<uint8_t>(u));
  } else if (u <= 0xff) {
    Byte(0xcc);
    Be(u, 1);
  } else if (u <= 0xffff) {
    Byte(0xcd);
    Be(u, 2);
  } else if (u <= 0xffffffffu) {
    Byte(0xce);
    Be(u, 4);
  } else {
    Byte(0xcf);
    Be(u, 8);
  }
}

void Writer::Int(int64_t i) {
  if (i >= 0) {
    Uint(static_cast<uint64_t>(i));
  } else if (i >= -32) {
    Byte(static_cast<uint8_t>(i));
  } else if (i >= std::numeric_limits<int8_t>::min()) {
    Byte(0xd0);
    Be(static_cast<uint64_t>(i), 1);
  } else if (i >= std::numeric_limits<int16_t>::min()) {
    Byte(0xd1);
    Be(static_cast<uint64_t>(i), 2);
  } else if (i >= std::numeric_limits<int32_t>::min()) {
    Byte(0xd2);
    Be(static_cast<uint64_t>(i), 4);
  } else {
    Byte(0xd3);
    Be(static_cast<uint64_t>(i), 8);
  }
}

void Writer::Float64(double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  Byte(0xcb);
  Be(bits, 8);
}

void Writer::Raw(std::string_view s) {
  const size_t n = s.size();
  if (n < 32) {
    Byte(static_cast<uint8_t>(0xa0 | n));
  } else if (n <= 0xffff) {
    // go-msgpack's old spec has no str8: 32..65535 bytes are str16.
    Byte(0xda);
    Be(n, 2);
  } else {
    if (n > 0xffffffffu) std::abort();  // cannot be expressed; a caller bug
    Byte(0xdb);
    Be(n, 4);
  }
  out_->append(s);
}

void Writer::ArrayHeader(size_t n) {
  if (n < 16) {
    Byte(static_cast<uint8_t>(0x90 | n));
  } else if (n <= 0xffff) {
    Byte(0xdc);
    Be(n, 2);
  } else {
    if (n > 0xffffffffu) std::abort();
    Byte(0xdd);
    Be(n, 4);
  }
}

void Writer::MapHeader(size_t n) {
  if (n < 16) {
    Byte(static_cast<uint8_t>(0x80 | n));
  } else if (n <= 0xffff) {
    Byte(0xde);
    Be(n, 2);
  } else {
    if (n > 0xffffffffu) std::abort();
    Byte(0xdf);
    Be(n, 4);
  }
}

void Writer::Write(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNil:
      Nil();
      return;
    case Value::Kind::kBool:
      Bool(v.as_bool());
      return;
    case Value::Kind::kInt:
      Int(v.as_int());
      return;
    case Value::Kind::kUint:
      Uint(v.as_uint());
      return;
    case Value::Kind::kFloat:
      Float64(v.as_float());
      return;
    case Value::Kind::kRaw:
      Raw(v.as_raw());
      return;
    case Value::Kind::kArray:
      ArrayHeader(v.as_array().size());
      for (const Value& e : v.as_array()) Write(e);
      return;
    case Value::Kind::kMap:
      MapHeader(v.as_map().size());
      for (const auto& [k, e] : v.as_map()) {
        Write(k);
        Write(e);
      }
      return;
  }
}

std::string Encode(const Value& v) {
  std::string out;
  Writer(&out).Write(v);
  return out;
}

// ----------------------------------------------------------------------------------------------
// Reader

namespace {

std::string Hex(uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string{kDigits[b >> 4], kDigits[b & 15]};
}

}  // namespace

Reader::Reader(std::string_view data, Limits limits) : data_(data), limits_(limits) {
  if (data_.size() > limits_.max_input_bytes) {
    // Refuse outright: with no bytes every read fails, and Need() names the reason.
    data_ = {};
    refused_ = true;
  }
}

Status Reader::Fail(std::string what) {
  return InvalidArgument("msgpack: " + what + " at offset " + std::to_string(pos_));
}

Status Reader::Need(size_t n) {
  if (refused_) return Fail("input larger than the decoder limit");
  if (data_.size() - pos_ < n) {
    truncated_ = true;
    return Fail("unexpected end of input");
  }
  return Status::Ok();
}

Status Reader::Enter() {
  if (++depth_ > limits_.max_depth) return Fail("nesting deeper than the limit");
  return Status::Ok();
}

uint64_t Reader::Be(size_t n) {
  uint64_t v = LoadBigEndian(std::string_view(data_).substr(pos_), n);
  pos_ += n;
  return v;
}

Result<uint8_t> Reader::Peek() {
  if (Status s = Need(1); !s.ok()) return s;
  return static_cast<uint8_t>(data_[pos_]);
}

bool Reader::NextIsNil() {
  return pos_ < data_.size() && static_cast<uint8_t>(data_[pos_]) == 0xc0;
}

Status Reader::ReadNil() {
  if (Status s = Need(1); !s.ok()) return s;
  if (static_cast<uint8_t>(data_[pos_]) != 0xc0) return Fail("expected nil");
  ++pos_;
  return Status::Ok();
}

Status Reader::ReadBool(bool* out) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b == 0xc2 || b == 0x00) {
    *out = false;
  } else if (b == 0xc3 || b == 0x01) {
    *out = true;
  } else {
    return Fail("expected bool, found 0x" + Hex(b));
  }
  ++pos_;
  return Status::Ok();
}

Status Reader::ReadUint(uint64_t* out, uint64_t max) {
  int64_t i = 0;
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  uint64_t u = 0;
  if (b <= 0x7f) {
    u = b;
    ++pos_;
  } else if (b >= 0xcc && b <= 0xcf) {
    const size_t n = size_t{1} << (b - 0xcc);
    if (Status s = Need(1 + n); !s.ok()) return s;
    ++pos_;
    u = Be(n);
  } else if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
    if (Status s = ReadInt(&i); !s.ok()) return s;
    if (i < 0) return Fail("negative value for an unsigned field");
    u = static_cast<uint64_t>(i);
  } else {
    return Fail("expected integer, found 0x" + Hex(b));
  }
  if (u > max) return Fail("integer " + std::to_string(u) + " overflows its field");
  *out = u;
  return Status::Ok();
}

Status Reader::ReadInt(int64_t* out, int64_t min, int64_t max) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  int64_t v = 0;
  if (b <= 0x7f) {
    v = b;
    ++pos_;
  } else if (b >= 0xe0) {
    v = static_cast<int8_t>(b);
    ++pos_;
  } else if (b >= 0xcc && b <= 0xcf) {
    const size_t n = size_t{1} << (b - 0xcc);
    if (Status s = Need(1 + n); !s.ok()) return s;
    ++pos_;
    const uint64_t u = Be(n);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail("integer " + std::to_string(u) + " overflows its field");
    }
    v = static_cast<int64_t>(u);
  } else if (b >= 0xd0 && b <= 0xd3) {
    const size_t n = size_t{1} << (b - 0xd0);
    if (Status s = Need(1 + n); !s.ok()) return s;
    ++pos_;
    const uint64_t u = Be(n);
    switch (n) {
      case 1:
        v = static_cast<int8_t>(u);
        break;
      case 2:
        v = static_cast<int16_t>(u);
        break;
      case 4:
        v = static_cast<int32_t>(u);
        break;
      default:
        v = static_cast<int64_t>(u);
        break;
    }
  } else {
    return Fail("expected integer, found 0x" + Hex(b));
  }
  if (v < min || v > max) return Fail("integer " + std::to_string(v) + " overflows its field");
  *out = v;
  return Status::Ok();
}

Status Reader::ReadFloat(double* out) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b == 0xca) {
    if (Status s = Need(5); !s.ok()) return s;
    ++pos_;
    const uint32_t bits = static_cast<uint32_t>(Be(4));
    float f = 0;
    std::memcpy(&f, &bits, sizeof f);
    *out = f;
    return Status::Ok();
  }
  if (b == 0xcb) {
    if (Status s = Need(9); !s.ok()) return s;
    ++pos_;
    const uint64_t bits = Be(8);
    std::memcpy(out, &bits, sizeof *out);
    return Status::Ok();
  }
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
    uint64_t u = 0;
    if (Status s = ReadUint(&u); !s.ok()) return s;
    *out = static_cast<double>(u);
    return Status::Ok();
  }
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
    int64_t i = 0;
    if (Status s = ReadInt(&i); !s.ok()) return s;
    *out = static_cast<double>(i);
    return Status::Ok();
  }
  return Fail("expected float, found 0x" + Hex(b));
}

Status Reader::ReadRaw(std::string_view* out) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  size_t header = 1;
  size_t len_bytes = 0;
  size_t n = 0;
  if ((b & 0xe0) == 0xa0) {
    n = b & 0x1f;
  } else if (b == 0xd9 || b == 0xc4) {
    len_bytes = 1;
  } else if (b == 0xda || b == 0xc5) {
    len_bytes = 2;
  } else if (b == 0xdb || b == 0xc6) {
    len_bytes = 4;
  } else {
    return Fail("expected string or bytes, found 0x" + Hex(b));
  }
  if (Status s = Need(header + len_bytes); !s.ok()) return s;
  ++pos_;
  if (len_bytes > 0) n = static_cast<size_t>(Be(len_bytes));
  if (Status s = Need(n); !s.ok()) return s;
  *out = data_.substr(pos_, n);
  pos_ += n;
  return Status::Ok();
}

Status Reader::ReadArrayHeader(size_t* n) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  size_t len_bytes = 0;
  if ((b & 0xf0) == 0x90) {
    *n = b & 0x0f;
  } else if (b == 0xdc) {
    len_bytes = 2;
  } else if (b == 0xdd) {
    len_bytes = 4;
  } else {
    return Fail("expected array, found 0x" + Hex(b));
  }
  if (Status s = Need(1 + len_bytes); !s.ok()) return s;
  ++pos_;
  if (len_bytes > 0) *n = static_cast<size_t>(Be(len_bytes));
  if (*n > limits_.max_container_len) return Fail("array longer than the limit");
  // Every element takes at least one byte.
  return Need(*n);
}

Status Reader::ReadMapHeader(size_t* n) {
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  size_t len_bytes = 0;
  if ((b & 0xf0) == 0x80) {
    *n = b & 0x0f;
  } else if (b == 0xde) {
    len_bytes = 2;
  } else if (b == 0xdf) {
    len_bytes = 4;
  } else {
    return Fail("expected map, found 0x" + Hex(b));
  }
  if (Status s = Need(1 + len_bytes); !s.ok()) return s;
  ++pos_;
  if (len_bytes > 0) *n = static_cast<size_t>(Be(len_bytes));
  if (*n > limits_.max_container_len) return Fail("map larger than the limit");
  // Every entry takes at least two bytes (key and value). Compare without overflow.
  if (*n > remaining() / 2) {
    truncated_ = true;
    return Fail("unexpected end of input");
  }
  return Status::Ok();
}

Status Reader::Skip() {
  size_t budget = std::numeric_limits<size_t>::max();
  return ReadValueInto(nullptr, &budget);
}

Result<Value> Reader::ReadValue() {
  Value v;
  size_t budget = limits_.max_values;
  if (Status s = ReadValueInto(&v, &budget); !s.ok()) return s;
  return v;
}

// Reads one value into *out (or discards it when out is null). Recursion is bounded by
// max_depth, and the number of materialised values by *budget.
Status Reader::ReadValueInto(Value* out, size_t* budget) {
  if (out != nullptr) {
    if (*budget == 0) return Fail("more values than the limit");
    --*budget;
  }
  if (Status s = Need(1); !s.ok()) return s;
  const uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b == 0xc0) {
    ++pos_;
    if (out) *out = Value::Nil();
    return Status::Ok();
  }
  if (b == 0xc2 || b == 0xc3) {
    ++pos_;
    if (out) *out = Value::Bool(b == 0xc3);
    return Status::Ok();
  }
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
    uint64_t u = 0;
    if (Status s = ReadUint(&u); !s.ok()) return s;
    if (out) *out = Value::Uint(u);
    return Status::Ok();
  }
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
    int64_t i = 0;
    if (Status s = ReadInt(&i); !s.ok()) return s;
    if (out) *out = Value::Int(i);
    return Status::Ok();
  }
  if (b == 0xca || b == 0xcb) {
    double d = 0;
    if (Status s = ReadFloat(&d); !s.ok()) return s;
    if (out) *out = Value::Float(d);
    return Status::Ok();
  }
  if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb || b == 0xc4 || b == 0xc5 ||
      b == 0xc6) {
    std::string_view raw;
    if (Status s = ReadRaw(&raw); !s.ok()) return s;
    if (out) *out = Value::Raw(std::string(raw));
    return Status::Ok();
  }
  if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
    size_t n = 0;
    if (Status s = ReadArrayHeader(&n); !s.ok()) return s;
    if (Status s = Enter(); !s.ok()) return s;
    Value::Array items;
    if (out) items.reserve(n);  // n <= remaining bytes, checked by the header read
    for (size_t i = 0; i < n; ++i) {
      if (out) {
        items.emplace_back();
        if (Status s = ReadValueInto(&items.back(), budget); !s.ok()) return s;
      } else if (Status s = ReadValueInto(nullptr, budget); !s.ok()) {
        return s;
      }
    }
    Leave();
    if (out) *out = Value::MakeArray(std::move(items));
    return Status::Ok();
  }
  if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
    size_t n = 0;
    if (Status s = ReadMapHeader(&n); !s.ok()) return s;
    if (Status s = Enter(); !s.ok()) return s;
    Value::Map entries;
    if (out) entries.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (out) {
        entries.emplace_back();
        if (Status s = ReadValueInto(&entries.back().first, budget); !s.ok()) return s;
        if (Status s = ReadValueInto(&entries.back().second, budget); !s.ok()) return s;
      } else {
        if (Status s = ReadValueInto(nullptr, budget); !s.ok()) return s;
        if (Status s = ReadValueInto(nullptr, budget); !s.ok()) return s;
      }
    }
    Leave();
    if (out) *out = Value::MakeMap(std::move(entries));
    return Status::Ok();
  }
  // Extensions (d4-d8, c7-c9) never appear in memberlist or Serf messages; 0xc1 is reserved.
  return Fail("unsupported type 0x" + Hex(b));
}

Status Reader::ReadIntOrNil(int64_t* out, int64_t min, int64_t max) {
  if (NextIsNil()) {
    *out = 0;
    return ReadNil();
  }
  return ReadInt(out, min, max);
}

Status Reader::ReadUintOrNil(uint64_t* out, uint64_t max) {
  if (NextIsNil()) {
    *out = 0;
    return ReadNil();
  }
  return ReadUint(out, max);
}

Status Reader::ReadBoolOrNil(bool* out) {
  if (NextIsNil()) {
    *out = false;
    return ReadNil();
  }
  return ReadBool(out);
}

Status Reader::ReadRawOrNil(std::string* out) {
  if (NextIsNil()) {
    out->clear();
    return ReadNil();
  }
  std::string_view raw;
  if (Status s = ReadRaw(&raw); !s.ok()) return s;
  out->assign(raw);
  return Status::Ok();
}

Status Reader::ReadFloatOrNil(double* out) {
  if (NextIsNil()) {
    *out = 0;
    return ReadNil();
  }
  return ReadFloat(out);
}

Result<Value> Decode(std::string_view data, Limits limits) {
  Reader r(data, limits);
  auto v = r.ReadValue();
  if (!v.ok()) return v;
  if (!r.at_end()) {
    return InvalidArgument("msgpack: " + std::to_string(r.remaining()) +
                           " trailing bytes after the value");
  }
  return v;
}

}  // namespace gangway::codec::msgpack
