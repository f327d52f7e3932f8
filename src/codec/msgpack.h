// MessagePack in the dialect of go-msgpack's zero-value MsgpackHandle ("old spec"), which is what
// memberlist and Serf put on the wire: strings and byte slices share the raw family and are never
// written as str8 or bin; non-negative integers take the smallest unsigned form whatever their Go
// type. See docs/gossip-wire-notes.md. Pure value types and functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace gangway::codec::msgpack {

// A decoded MessagePack value. Maps keep their keys in wire order (Go map order is random, so
// byte-exact round trips need it) and may hold any value as key.
class Value {
 public:
  using Array = std::vector<Value>;
  using Map = std::vector<std::pair<Value, Value>>;
  enum class Kind { kNil, kBool, kInt, kUint, kFloat, kRaw, kArray, kMap };

  Value() = default;  // nil
  static Value Nil() { return Value(); }
  static Value Bool(bool b) { return Value(Storage(std::in_place_index<1>, b)); }
  // Negative-capable integer. Written in the smallest unsigned form when >= 0, as Go does.
  static Value Int(int64_t i) { return Value(Storage(std::in_place_index<2>, i)); }
  static Value Uint(uint64_t u) { return Value(Storage(std::in_place_index<3>, u)); }
  static Value Float(double d) { return Value(Storage(std::in_place_index<4>, d)); }
  // A Go string or []byte: the raw/str family on the wire.
  static Value Raw(std::string s) { return Value(Storage(std::in_place_index<5>, std::move(s))); }
  static Value MakeArray(Array a) { return Value(Storage(std::in_place_index<6>, std::move(a))); }
  static Value MakeMap(Map m) { return Value(Storage(std::in_place_index<7>, std::move(m))); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_nil() const { return kind() == Kind::kNil; }
  bool as_bool() const { return std::get<1>(v_); }
  int64_t as_int() const { return std::get<2>(v_); }
  uint64_t as_uint() const { return std::get<3>(v_); }
  double as_float() const { return std::get<4>(v_); }
  const std::string& as_raw() const { return std::get<5>(v_); }
  const Array& as_array() const { return std::get<6>(v_); }
  const Map& as_map() const { return std::get<7>(v_); }
  Array& as_array() { return std::get<6>(v_); }
  Map& as_map() { return std::get<7>(v_); }

  // For a map: the value of the first key that is a raw string equal to `key`, else nullptr.
  const Value* Find(std::string_view key) const;

  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

 private:
  using Storage =
      std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string, Array, Map>;
  explicit Value(Storage v) : v_(std::move(v)) {}
  Storage v_;
};

// Appends MessagePack to a string the caller owns. Never fails; lengths above 2^32-1 cannot be
// expressed and are a caller bug (checked, aborts).
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Nil();
  void Bool(bool b);
  void Int(int64_t i);    // >= 0 goes out as the smallest unsigned form
  void Uint(uint64_t u);  // fixint, cc, cd, ce, cf
  void Float64(double d);
  void Raw(std::string_view s);  // fixstr, da (str16), db (str32); never d9/bin
  void ArrayHeader(size_t n);
  void MapHeader(size_t n);
  void Write(const Value& v);

 private:
  void Byte(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void Be(uint64_t v, int bytes);
  std::string* out_;
};

// Convenience: one value to bytes.
std::string Encode(const Value& v);

// Hard limits for decoding untrusted bytes. Every length read from the input is checked against
// the bytes that remain before anything is allocated for it.
struct Limits {
  size_t max_depth = 32;                // nesting of arrays and maps
  size_t max_container_len = 1u << 20;  // elements in one array or entries in one map
  size_t max_input_bytes = 64u << 20;   // a Reader refuses larger inputs outright
  size_t max_values = 1u << 20;         // values materialised by one ReadValue()
};

// Pull reader over a byte buffer the caller keeps alive. Each Read* consumes one value and
// returns an error (and leaves the position unspecified) on malformed or truncated input; after
// an error, truncated() says whether it was only the end of the buffer, which lets stream
// decoders ask for more bytes instead of failing. Never throws, never reads out of bounds.
class Reader {
 public:
  explicit Reader(std::string_view data, Limits limits = {});

  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ >= data_.size(); }
  std::string_view rest() const { return data_.substr(pos_); }
  bool truncated() const { return truncated_; }
  const Limits& limits() const { return limits_; }

  // The type byte of the next value without consuming it; error at the end of input.
  Result<uint8_t> Peek();
  bool NextIsNil();  // false at end of input

  Status ReadNil();
  Status ReadBool(bool* out);  // c2/c3; also 0/1 fixints as go-msgpack accepts
  // Any integer encoding; fails when the value does not fit the requested range (as Go's
  // decoder does for a sized field). Nil is not accepted here: see the *OrNil helpers.
  Status ReadInt(int64_t* out, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  Status ReadUint(uint64_t* out, uint64_t max = UINT64_MAX);
  Status ReadFloat(double* out);  // ca/cb; integers are accepted and converted
  // Raw bytes: any str form (fixstr/d9/da/db) or bin (c4/c5/c6). The view points into the input.
  Status ReadRaw(std::string_view* out);
  Status ReadArrayHeader(size_t* n);  // checks n against the limits and the remaining bytes
  Status ReadMapHeader(size_t* n);
  Status Skip();  // one complete value of any type, within the depth limit
  Result<Value> ReadValue();

  // Go's decoder turns nil into the zero value of any field; these do the same.
  Status ReadIntOrNil(int64_t* out, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  Status ReadUintOrNil(uint64_t* out, uint64_t max = UINT64_MAX);
  Status ReadBoolOrNil(bool* out);
  Status ReadRawOrNil(std::string* out);
  Status ReadFloatOrNil(double* out);

  // Reads a map whose keys are strings (a Go struct): calls on_field(key) for each entry with
  // the reader positioned at the value; on_field must consume exactly that value (use Skip()
  // for unknown keys). Nil reads as an empty struct.
  template <typename F>
  Status ReadStruct(F&& on_field) {
    if (NextIsNil()) return ReadNil();
    size_t n = 0;
    if (Status s = ReadMapHeader(&n); !s.ok()) return s;
    if (Status s = Enter(); !s.ok()) return s;
    for (size_t i = 0; i < n; ++i) {
      std::string_view key;
      if (Status s = ReadRaw(&key); !s.ok()) return s;
      if (Status s = on_field(key); !s.ok()) return s;
    }
    Leave();
    return Status::Ok();
  }
  // Reads an array (nil reads as empty) calling on_element(index) for each element.
  template <typename F>
  Status ReadArray(F&& on_element, bool* was_nil = nullptr) {
    if (was_nil) *was_nil = false;
    if (NextIsNil()) {
      if (was_nil) *was_nil = true;
      return ReadNil();
    }
    size_t n = 0;
    if (Status s = ReadArrayHeader(&n); !s.ok()) return s;
    if (Status s = Enter(); !s.ok()) return s;
    for (size_t i = 0; i < n; ++i) {
      if (Status s = on_element(i, n); !s.ok()) return s;
    }
    Leave();
    return Status::Ok();
  }

 private:
  Status Need(size_t n);
  Status Fail(std::string what);
  Status Enter();
  void Leave() { --depth_; }
  Status ReadLength(uint8_t tag, size_t* n, bool* found_raw);
  Status ReadValueInto(Value* out, size_t* budget);
  uint64_t Be(size_t n);  // caller checked Need(n)

  std::string_view data_;
  Limits limits_;
  size_t pos_ = 0;
  size_t depth_ = 0;
  bool truncated_ = false;
  bool refused_ = false;
};

// Decodes exactly one value; trailing bytes are an error.
Result<Value> Decode(std::string_view data, Limits limits = {});

}  // namespace gangway::codec::msgpack
