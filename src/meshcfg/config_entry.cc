#include "meshcfg/config_entry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>
#include <type_traits>

#include "codec/schema.h"
#include "core/strings.h"
#include "meshcfg/internal/encode.h"
#include "meshcfg/internal/fields.h"

namespace gangway::meshcfg {

using codec::Loc;
using codec::Members;

namespace internal {
namespace {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};
template <typename T>
struct IsMap : std::false_type {};
template <typename T>
struct IsMap<std::map<std::string, T>> : std::true_type {};

// "ConnectTimeout" -> "connect_timeout", "TLSMinVersion" -> "tls_min_version": the spelling
// suggested to users who write snake_case keys.
std::string Snake(std::string_view name) {
  std::string out;
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (upper(c) && i > 0) {
      bool prev_lower = !upper(name[i - 1]);
      bool next_lower = i + 1 < name.size() && !upper(name[i + 1]);
      if (prev_lower || next_lower) out.push_back('_');
    }
    out.push_back(upper(c) ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

// Collects the field names of a type into a codec::Schema.
class SchemaBuilder {
 public:
  SchemaBuilder(std::vector<codec::Field>* fields, std::deque<std::string>* snakes)
      : fields_(fields), snakes_(snakes) {}
  void Kind(std::string_view) { Add("Kind"); }
  template <typename M>
  void operator()(std::string_view name, const M&) {
    Add(name);
  }
  template <typename M>
  void Always(std::string_view name, const M&) {
    Add(name);
  }
  template <typename M>
  void NameOnlyWhenRead(std::string_view name, const M&) {
    Add(name);
  }

 private:
  void Add(std::string_view name) {
    snakes_->push_back(Snake(name));
    fields_->push_back(codec::Field{.name = name, .snake = snakes_->back()});
  }
  std::vector<codec::Field>* fields_;
  std::deque<std::string>* snakes_;
};

template <typename T>
concept Struct = requires(SchemaBuilder& b, T& t) {
  Fields(b, t);
};

template <typename T>
const codec::Schema& SchemaOf() {
  struct Built {
    std::deque<std::string> snakes;
    std::vector<codec::Field> fields;
    codec::Schema schema;
  };
  static const Built* const built = [] {
    static Built b;
    T sample;
    SchemaBuilder builder(&b.fields, &b.snakes);
    Fields(builder, sample);
    b.schema = codec::Schema{std::span<const codec::Field>(b.fields)};
    return &b;
  }();
  return built->schema;
}

bool AllObjects(const Json& v) {
  return v.is_array() &&
         std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_object(); });
}

class Decoder {
 public:
  explicit Decoder(const codec::Document* doc) : r_(doc) {}

  template <typename T>
  Status Read(const Json& v, const Loc& loc, T* out) const;

  const codec::SchemaReader& reader() const { return r_; }

 private:
  Status Number(const Json& v, const Loc& loc, double* out) const;

  codec::SchemaReader r_;
};

// Reads the members of one object into the fields of a struct.
class MemberReader {
 public:
  MemberReader(const Decoder& d, const Members& m) : d_(d), m_(m) {}
  void Kind(std::string_view) {}
  template <typename M>
  void operator()(std::string_view name, M& out) {
    if (!status_.ok()) return;
    auto it = m_.find(name);
    if (it == m_.end()) return;
    status_ = d_.Read(*it->second.value, it->second.loc, &out);
  }
  template <typename M>
  void Always(std::string_view name, M& out) {
    (*this)(name, out);
  }
  template <typename M>
  void NameOnlyWhenRead(std::string_view name, M& out) {
    (*this)(name, out);
  }
  Status status() const { return status_; }

 private:
  const Decoder& d_;
  const Members& m_;
  Status status_;
};

Status Decoder::Number(const Json& v, const Loc& loc, double* out) const {
  double d = 0;
  if (v.is_number()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
      return r_.Wrong(loc, "a number", v);
    }
  } else {
    return r_.Wrong(loc, "a number", v);
  }
  if (!std::isfinite(d)) return r_.Wrong(loc, "a finite number", v);
  *out = d;
  return Status::Ok();
}

template <typename T>
Status Decoder::Read(const Json& v, const Loc& loc, T* out) const {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  if constexpr (std::is_same_v<T, std::string>) {
    return r_.AsString(v, loc, out);
  } else if constexpr (std::is_same_v<T, bool>) {
    return r_.AsBool(v, loc, out);
  } else if constexpr (std::is_same_v<T, int>) {
    int64_t n = 0;
    Status s = r_.AsInt(v, loc, std::numeric_limits<int32_t>::min(), kInt32Max, &n);
    if (s.ok()) *out = static_cast<int>(n);
    return s;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    int64_t n = 0;
    Status s = r_.AsInt(v, loc, 0, std::numeric_limits<int64_t>::max(), &n);
    if (s.ok()) *out = static_cast<uint64_t>(n);
    return s;
  } else if constexpr (std::is_same_v<T, double>) {
    return Number(v, loc, out);
  } else if constexpr (std::is_same_v<T, Duration>) {
    int64_t ns = 0;
    Status s = r_.AsDuration(v, loc, &ns);
    if (s.ok()) *out = Duration(ns);
    return s;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return r_.AsStringList(v, loc, out);
  } else if constexpr (std::is_same_v<T, StringMap>) {
    if (AllObjects(v)) {
      Json merged = Json::object();
      for (const auto& e : v) merged.merge_patch(e);
      return r_.AsStringMap(merged, loc, out);
    }
    return r_.AsStringMap(v, loc, out);
  } else if constexpr (std::is_same_v<T, Json>) {
    // Opaque: kept verbatim. An empty object or list is what the encoder leaves out, so it reads
    // as the field's default, and an entry equals itself after a trip through its JSON.
    if (!((v.is_object() || v.is_array()) && v.empty())) *out = v;
    return Status::Ok();
  } else if constexpr (IsOptional<T>::value) {
    typename T::value_type x{};
    Status s = Read(v, loc, &x);
    if (s.ok()) *out = std::move(x);
    return s;
  } else if constexpr (IsVector<T>::value) {
    out->clear();
    // An HCL block given once arrives as an object: a list of one.
    if (v.is_object()) {
      out->emplace_back();
      return Read(v, loc, &out->back());
    }
    if (!v.is_array()) return r_.Wrong(loc, "a list", v);
    for (size_t i = 0; i < v.size(); ++i) {
      out->emplace_back();
      Status s = Read(v[i], loc.Index(i), &out->back());
      if (!s.ok()) return s;
    }
    return Status::Ok();
  } else if constexpr (IsMap<T>::value) {
    out->clear();
    const Json* obj = &v;
    Json merged;
    if (AllObjects(v)) {  // repeated HCL blocks
      merged = Json::object();
      for (const auto& e : v) merged.merge_patch(e);
      obj = &merged;
    }
    if (!obj->is_object()) return r_.Wrong(loc, "an object", v);
    for (const auto& [key, value] : obj->items()) {
      if (value.is_null()) continue;
      Status s = Read(value, loc.Key(key), &(*out)[key]);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  } else {
    static_assert(Struct<T>, "no decoder for this field type");
    const Json* obj = &v;
    if (AllObjects(v) && v.size() == 1) obj = &v[0];  // `Block { }` parsed as a list of one
    Members members;
    Status s = r_.ReadObject(*obj, loc, SchemaOf<T>(), &members);
    if (!s.ok()) return s;
    MemberReader reader(*this, members);
    Fields(reader, *out);
    return reader.status();
  }
}

// Go's encoding/json "omitempty": zero values, empty lists and maps, absent pointers. Plain
// (non-pointer) structs are never empty to Go, so they are always written.
template <typename T>
bool IsEmpty(const T& v) {
  if constexpr (std::is_same_v<T, std::string> || IsVector<T>::value || IsMap<T>::value) {
    return v.empty();
  } else if constexpr (std::is_same_v<T, bool>) {
    return !v;
  } else if constexpr (std::is_arithmetic_v<T>) {
    return v == 0;
  } else if constexpr (std::is_same_v<T, Duration>) {
    return v.count() == 0;
  } else if constexpr (std::is_same_v<T, Json>) {
    return v.is_null() || ((v.is_object() || v.is_array()) && v.empty());
  } else if constexpr (IsOptional<T>::value) {
    return !v.has_value();
  } else {
    return false;
  }
}

template <typename T>
Json ToJson(const T& v);

class Writer {
 public:
  explicit Writer(Json* out) : out_(out) {}
  void Kind(std::string_view kind) { (*out_)["Kind"] = kind; }
  template <typename M>
  void operator()(std::string_view name, const M& v) {
    if (!IsEmpty(v)) (*out_)[std::string(name)] = ToJson(v);
  }
  template <typename M>
  void Always(std::string_view name, const M& v) {
    (*out_)[std::string(name)] = ToJson(v);
  }
  template <typename M>
  void NameOnlyWhenRead(std::string_view, const M&) {}

 private:
  Json* out_;
};

template <typename T>
Json ToJson(const T& v) {
  if constexpr (std::is_same_v<T, double>) {
    // Go writes float32 90 as 90, not 90.0.
    if (std::trunc(v) == v && std::fabs(v) < 1e15) return Json(static_cast<int64_t>(v));
    return Json(v);
  } else if constexpr (std::is_same_v<T, Duration>) {
    return Json(FormatDuration(v));
  } else if constexpr (std::is_same_v<T, Json>) {
    return v;
  } else if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T> ||
                       std::is_same_v<T, StringMap> ||
                       std::is_same_v<T, std::vector<std::string>> ||
                       std::is_same_v<T, std::vector<int>>) {
    return Json(v);
  } else if constexpr (IsOptional<T>::value) {
    return v ? ToJson(*v) : Json();
  } else if constexpr (IsVector<T>::value) {
    Json a = Json::array();
    for (const auto& e : v) a.push_back(ToJson(e));
    return a;
  } else if constexpr (IsMap<T>::value) {
    Json o = Json::object();
    for (const auto& [k, e] : v) o[k] = ToJson(e);
    return o;
  } else {
    Json o = Json::object();
    Writer w(&o);
    Fields(w, v);
    return o;
  }
}

constexpr std::string_view kKinds[] = {kProxyDefaults, kServiceDefaults, kServiceResolver,
                                       kServiceRouter, kServiceSplitter, kServiceIntentions,
                                       kMesh};

template <typename T>
Result<ConfigEntry> DecodeAs(const codec::Document& doc) {
  Decoder d(&doc);
  T entry;
  Status s = d.Read(doc.value, Loc{}, &entry);
  if (!s.ok()) return s;
  return ConfigEntry(std::move(entry));
}

}  // namespace

Json EncodePart(const Route& v) { return ToJson(v); }
Json EncodePart(const Split& v) { return ToJson(v); }
Json EncodePart(const ResolverSubset& v) { return ToJson(v); }
Json EncodePart(const LoadBalancer& v) { return ToJson(v); }
Json EncodePart(const FailoverPolicy& v) { return ToJson(v); }
Json EncodePart(const MeshGatewayConfig& v) { return ToJson(v); }

}  // namespace internal

std::string_view ConfigEntry::kind() const { return internal::kKinds[value_.index()]; }

const EntryCommon& ConfigEntry::common() const {
  return std::visit([](const auto& e) -> const EntryCommon& { return e; }, value_);
}

EntryCommon& ConfigEntry::common() {
  return std::visit([](auto& e) -> EntryCommon& { return e; }, value_);
}

bool IsKnownKind(std::string_view kind) {
  return std::find(std::begin(internal::kKinds), std::end(internal::kKinds), kind) !=
         std::end(internal::kKinds);
}

Result<ConfigEntry> DecodeConfigEntry(const codec::Document& doc) {
  codec::SchemaReader reader(&doc);
  if (!doc.value.is_object()) return reader.Wrong(Loc{}, "a config entry object", doc.value);
  const Json* kind_value = nullptr;
  Loc kind_loc;
  for (const auto& [key, value] : doc.value.items()) {
    if (codec::FoldKey(key) != "kind") continue;
    kind_value = &value;
    kind_loc = Loc{}.Key(key);
  }
  if (!kind_value || kind_value->is_null()) {
    return InvalidArgument("Payload does not contain a kind/Kind key at the top level" +
                           reader.Where(Loc{}));
  }
  std::string kind;
  Status s = reader.AsString(*kind_value, kind_loc, &kind);
  if (!s.ok()) return s;
  if (kind == kProxyDefaults) return internal::DecodeAs<ProxyDefaults>(doc);
  if (kind == kServiceDefaults) return internal::DecodeAs<ServiceDefaults>(doc);
  if (kind == kServiceResolver) return internal::DecodeAs<ServiceResolver>(doc);
  if (kind == kServiceRouter) return internal::DecodeAs<ServiceRouter>(doc);
  if (kind == kServiceSplitter) return internal::DecodeAs<ServiceSplitter>(doc);
  if (kind == kServiceIntentions) return internal::DecodeAs<ServiceIntentions>(doc);
  if (kind == kMesh) return internal::DecodeAs<MeshConfig>(doc);
  std::vector<std::string> kinds(std::begin(internal::kKinds), std::end(internal::kKinds));
  std::string msg = "invalid config entry kind: " + kind + reader.Where(kind_loc);
  std::string near = Nearest(kind, kinds);
  if (!near.empty()) msg += "; did you mean " + codec::QuoteValue(near) + "?";
  return InvalidArgument(msg);
}

Json EncodeConfigEntry(const ConfigEntry& entry) {
  return std::visit([](const auto& e) { return internal::ToJson(e); }, entry.value());
}

}  // namespace gangway::meshcfg
