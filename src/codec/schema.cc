#include "codec/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "codec/internal/text.h"
#include "core/duration.h"
#include "core/strings.h"

namespace gangway::codec {

using Json = nlohmann::json;

namespace {

std::string UnescapeToken(std::string_view raw) {
  std::string tok;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
      tok.push_back(raw[i + 1] == '0' ? '~' : '/');
      ++i;
    } else {
      tok.push_back(raw[i]);
    }
  }
  return tok;
}

bool AllObjects(const Json& v) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_object(); });
}

// HCL's repeated blocks: one object, later blocks winning key by key.
Json MergeBlocks(const Json& list) {
  Json merged = Json::object();
  for (const auto& e : list) merged.merge_patch(e);
  return merged;
}

std::string_view Spelling(const Field& f, bool snake) {
  return snake && !f.snake.empty() ? f.snake : f.name;
}

}  // namespace

bool IsSnakeStyle(std::string_view key) {
  if (key.find('_') != std::string_view::npos) return true;
  return std::none_of(key.begin(), key.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string FoldKey(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '_') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

std::string QuoteValue(std::string_view s) {
  // Messages must stay valid UTF-8 (they end up in JSON error bodies): cut on a character
  // boundary and let the JSON encoder escape the rest.
  constexpr size_t kMax = 60;
  std::string cut(s.substr(0, kMax));
  if (s.size() > kMax) {
    while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80) cut.pop_back();
    if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0x80)) cut.pop_back();
  }
  std::string q = Json(cut).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMax) q.insert(q.size() - 1, "...");
  return q;
}

std::string DescribeValue(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "string " + QuoteValue(v.get_ref<const std::string&>());
    case Json::value_t::boolean:
      return v.get<bool>() ? "bool true" : "bool false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number " + v.dump();
    case Json::value_t::array:
      return "a list";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::null:
      return "null";
    default:
      return "a value";
  }
}

Loc Loc::Key(std::string_view key) const {
  return {path.empty() ? std::string(key) : path + "." + std::string(key),
          pointer + "/" + internal::EscapePointerToken(key)};
}

Loc Loc::Index(size_t i) const {
  return {path + "[" + std::to_string(i) + "]", pointer + "/" + std::to_string(i)};
}

Loc Loc::FromPointer(const Document* doc, const std::string& pointer) {
  Loc loc;
  loc.pointer = pointer;
  if (pointer.empty() || pointer[0] != '/') return loc;
  // The document tells list indexes from object keys that happen to be numbers.
  const Json* node = doc ? &doc->value : nullptr;
  for (const std::string& raw : Split(std::string_view(pointer).substr(1), '/')) {
    std::string tok = UnescapeToken(raw);
    bool numeric = !tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos;
    bool is_index = node ? node->is_array() : numeric;
    if (is_index && numeric) {
      loc.path += "[" + tok + "]";
      size_t idx = 0;
      std::from_chars(tok.data(), tok.data() + tok.size(), idx);
      node = node && idx < node->size() ? &(*node)[idx] : nullptr;
    } else {
      loc.path += (loc.path.empty() ? "" : ".") + tok;
      node = node && node->is_object() && node->contains(tok) ? &(*node)[tok] : nullptr;
    }
  }
  return loc;
}

std::string SchemaReader::Where(const Loc& loc) const {
  if (!doc_) return "";
  if (style_.file_colon_line) {
    std::string w = doc_->Where(loc.pointer);
    return w.empty() ? "" : " (" + w + ")";
  }
  int line = doc_->LineOf(loc.pointer);
  if (line > 0 && !doc_->file.empty()) {
    return " (line " + std::to_string(line) + " of " + doc_->file + ")";
  }
  if (line > 0) return " (line " + std::to_string(line) + ")";
  if (!doc_->file.empty()) return " (" + doc_->file + ")";
  return "";
}

Status SchemaReader::Fail(const Loc& loc, std::string_view msg) const {
  return InvalidArgument((loc.path.empty() ? "" : loc.path + ": ") + std::string(msg) + Where(loc));
}

Status SchemaReader::Wrong(const Loc& loc, std::string_view expected, const Json& got) const {
  return Fail(loc, "expected " + std::string(expected) + ", got " + DescribeValue(got));
}

Status SchemaReader::Unknown(std::string_view key, const Loc& loc, const Loc& at,
                             const Schema& schema) const {
  const bool folded = schema.match == KeyMatch::kFolded;
  std::vector<std::string> names;
  for (const Field& f : schema.fields) {
    names.push_back(folded ? FoldKey(f.name) : std::string(f.name));
  }
  std::string near = Nearest(folded ? FoldKey(key) : std::string(key), names);
  std::string msg = "invalid config key " + QuoteValue(at.path) + Where(at);
  for (size_t i = 0; !near.empty() && i < names.size(); ++i) {
    if (names[i] != near) continue;
    std::string spelled(Spelling(schema.fields[i], !folded || IsSnakeStyle(key)));
    if (style_.suggest_path && !loc.path.empty()) spelled = loc.path + "." + spelled;
    msg += "; did you mean " + QuoteValue(spelled) + "?";
    break;
  }
  return InvalidArgument(msg);
}

Status SchemaReader::ReadObject(const Json& obj, const Loc& loc, const Schema& schema,
                                Members* out) const {
  if (!obj.is_object()) return Wrong(loc, "an object", obj);
  const bool folded = schema.match == KeyMatch::kFolded;
  bool snake_keys = !obj.empty();
  for (const auto& [key, value] : obj.items()) {
    snake_keys = snake_keys && IsSnakeStyle(key);
    const std::string want = folded ? FoldKey(key) : key;
    const Field* field = nullptr;
    for (const Field& f : schema.fields) {
      if ((folded ? FoldKey(f.name) : std::string(f.name)) == want) {
        field = &f;
        break;
      }
    }
    Loc at = loc.Key(key);
    if (!field) return Unknown(key, loc, at, schema);
    auto [it, inserted] = out->emplace(field->canonical(), Member{key, &value, at, field});
    if (!inserted) {
      return Fail(loc, QuoteValue(it->second.key) + " and " + QuoteValue(key) + " both set " +
                           std::string(field->canonical()) + "; keep one");
    }
    if (value.is_null()) out->erase(it);  // null means "not set", as with Go's decoder
  }
  for (const Field& f : schema.fields) {
    if (f.required && f.alias_of.empty() && !out->count(f.name)) {
      return Fail(loc, "missing required key " +
                           QuoteValue(Spelling(f, !folded || snake_keys)));
    }
  }
  return Status::Ok();
}

Status SchemaReader::CheckObject(const Schema& schema, Json* obj, const Loc& loc) const {
  if (schema.merge_repeated_blocks && AllObjects(*obj)) *obj = MergeBlocks(*obj);
  Members members;
  Status s = ReadObject(*obj, loc, schema, &members);
  if (!s.ok()) return s;
  for (auto& [name, m] : members) {
    s = Check(*m.field, &(*obj)[m.key], m.loc);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status SchemaReader::Check(const Field& field, Json* v, const Loc& loc) const {
  Status s;
  switch (field.type) {
    case FieldType::kString: {
      std::string out;
      s = AsString(*v, loc, &out);
      if (s.ok()) *v = std::move(out);
      return s;
    }
    case FieldType::kBool: {
      bool out = false;
      s = AsBool(*v, loc, &out);
      if (s.ok()) *v = out;
      return s;
    }
    case FieldType::kInt: {
      int64_t out = 0;
      s = AsInt(*v, loc, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                &out);
      if (s.ok()) *v = out;
      return s;
    }
    case FieldType::kDuration:
      // Kept as written: negative durations are for the caller to judge.
      if (v->is_number_integer() || v->is_number_unsigned()) return Status::Ok();
      if (!v->is_string()) return Wrong(loc, "a duration such as \"10s\"", *v);
      if (auto d = ParseDuration(v->get<std::string>()); !d.ok()) {
        return Fail(loc, d.status().message());
      }
      return Status::Ok();
    case FieldType::kStringList: {
      std::vector<std::string> out;
      s = AsStringList(*v, loc, &out);
      if (s.ok()) *v = out;
      return s;
    }
    case FieldType::kStringMap: {
      if (AllObjects(*v)) *v = MergeBlocks(*v);
      std::map<std::string, std::string> out;
      s = AsStringMap(*v, loc, &out);
      if (s.ok()) *v = out;
      return s;
    }
    case FieldType::kObject:
      return field.object ? CheckObject(*field.object, v, loc) : Status::Ok();
    case FieldType::kAny:
    case FieldType::kOpaque:
      return Status::Ok();
  }
  return Status::Ok();
}

Status SchemaReader::AsString(const Json& v, const Loc& loc, std::string* out) const {
  if (v.is_string()) {
    *out = v.get<std::string>();
  } else if (v.is_boolean()) {
    *out = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    *out = v.dump();
  } else {
    return Wrong(loc, "a string", v);
  }
  return Status::Ok();
}

Status SchemaReader::AsInt(const Json& v, const Loc& loc, int64_t lo, int64_t hi,
                           int64_t* out) const {
  int64_t n = 0;
  bool ok = false;
  bool too_big = false;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
    ok = true;
  } else if (v.is_number_unsigned()) {
    // nlohmann's own parser (HTTP bodies) stores every non-negative integer as unsigned.
    if (v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      n = static_cast<int64_t>(v.get<uint64_t>());
      ok = true;
    } else {
      too_big = true;
    }
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::trunc(d)) {
      if (std::fabs(d) < 9.0e15) {
        n = static_cast<int64_t>(d);
        ok = true;
      } else {
        too_big = true;
      }
    }
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
    too_big = r.ec == std::errc::result_out_of_range;
  }
  if (!ok && !too_big) return Wrong(loc, v.is_number_float() ? "a whole number" : "a number", v);
  if (too_big || n < lo || n > hi) {
    return Fail(loc, (v.is_string() ? v.get<std::string>() : v.dump()) + " is out of range (" +
                         std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }
  *out = n;
  return Status::Ok();
}

Status SchemaReader::AsBool(const Json& v, const Loc& loc, bool* out) const {
  if (v.is_boolean()) {
    *out = v.get<bool>();
    return Status::Ok();
  }
  if (v.is_string()) {
    std::string s = ToLower(v.get<std::string>());
    if (s == "true" || s == "1" || s == "t") {
      *out = true;
      return Status::Ok();
    }
    if (s == "false" || s == "0" || s == "f") {
      *out = false;
      return Status::Ok();
    }
  }
  if (v.is_number_integer() || v.is_number_unsigned()) {
    *out = v.get<int64_t>() != 0;
    return Status::Ok();
  }
  return Wrong(loc, "true or false", v);
}

Status SchemaReader::AsDuration(const Json& v, const Loc& loc, int64_t* ns) const {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    // Go's API encodes time.Duration as integer nanoseconds.
    return AsInt(v, loc, 0, std::numeric_limits<int64_t>::max(), ns);
  }
  if (!v.is_string()) return Wrong(loc, "a duration such as \"10s\"", v);
  auto d = ParseDuration(v.get<std::string>());
  if (!d.ok()) return Fail(loc, d.status().message());
  if (d->count() < 0) {
    return Fail(loc, "duration " + QuoteValue(v.get<std::string>()) + " must not be negative");
  }
  *ns = d->count();
  return Status::Ok();
}

Status SchemaReader::AsStringList(const Json& v, const Loc& loc,
                                  std::vector<std::string>* out) const {
  out->clear();
  if (!v.is_array()) {
    if (!v.is_string()) return Wrong(loc, "a list of strings", v);
    out->push_back(v.get<std::string>());
    return Status::Ok();
  }
  for (size_t i = 0; i < v.size(); ++i) {
    std::string s;
    if (!v[i].is_string() && !v[i].is_number() && !v[i].is_boolean()) {
      return Wrong(loc.Index(i), "a string", v[i]);
    }
    Status st = AsString(v[i], loc.Index(i), &s);
    if (!st.ok()) return st;
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Status SchemaReader::AsStringMap(const Json& v, const Loc& loc,
                                 std::map<std::string, std::string>* out) const {
  if (!v.is_object()) return Wrong(loc, "an object of strings", v);
  out->clear();
  for (const auto& [k, e] : v.items()) {
    std::string s;
    if (!e.is_null()) {
      Status st = AsString(e, loc.Key(k), &s);
      if (!st.ok()) return st;
    }
    (*out)[k] = std::move(s);
  }
  return Status::Ok();
}

}  // namespace gangway::codec
