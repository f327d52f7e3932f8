// Key schemas for configuration objects: a declarative table of fields per object, and a reader
// that walks a document node against it, reporting unknown keys (with file, line and the nearest
// valid key), duplicated keys and values of the wrong type. Tables are constant data; the reader
// is pure and may be used from any thread.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/document.h"
#include "core/status.h"

namespace gangway::codec {

// How a document's keys are matched against a table's names.
enum class KeyMatch {
  // Byte for byte (the agent's configuration: snake_case keys only).
  kExact,
  // Case-insensitively with '_' ignored, so "local_bind_port", "LocalBindPort" and
  // "localbindport" are one key: Consul's decoder for service definitions and API bodies.
  kFolded,
};

// What a field holds. Check() converts weakly, as Consul decodes configuration: "8080" is a valid
// integer, "true" a valid bool, a single string a valid list of one.
enum class FieldType {
  kAny,         // not checked here; the caller decodes it
  kString,
  kBool,
  kInt,
  kDuration,    // a Go duration string, or integer nanoseconds
  kStringList,
  kStringMap,
  kObject,      // checked against Field::object
  kOpaque,      // any JSON, kept verbatim
};

struct Schema;

struct Field {
  // The canonical name: Consul's API spelling (CamelCase) in a kFolded table, the key itself in a
  // kExact one. Decoders store values under this name.
  std::string_view name;
  // The config-file spelling, suggested to users who write snake_case. Empty: same as name.
  std::string_view snake = {};
  FieldType type = FieldType::kAny;
  const Schema* object = nullptr;  // kObject
  // A second spelling of another field (e.g. "Args" for "ScriptArgs"): both set alias_of.
  std::string_view alias_of = {};
  bool required = false;

  std::string_view canonical() const { return alias_of.empty() ? name : alias_of; }
};

struct Schema {
  std::span<const Field> fields;
  KeyMatch match = KeyMatch::kFolded;
  // HCL repeats a block given twice (`ports { } ports { }`) as a list of objects; merge them into
  // one object instead of reporting a list.
  bool merge_repeated_blocks = false;
};

// How messages read. Two spellings exist because the agent's configuration and service definitions
// have documented, tested wordings.
struct MessageStyle {
  // " (web.json:3)" instead of " (line 3 of web.json)".
  bool file_colon_line = false;
  // Suggest the whole dotted path ("ports.http") rather than the key alone ("http").
  bool suggest_path = false;
};

// "lower, '_' dropped": the key under which kFolded tables compare names.
std::string FoldKey(std::string_view key);

// True for keys written snake_case or all lowercase: suggestions to their writer use the
// config-file spelling, to others Consul's API spelling.
bool IsSnakeStyle(std::string_view key);

// Quotes a user string for a message: JSON-escaped, valid UTF-8, cut after 60 bytes with "...".
std::string QuoteValue(std::string_view s);

// "string \"x\"", "number 5", "bool true", "a list", "an object", "null".
std::string DescribeValue(const nlohmann::json& v);

// Where a value sits: the dotted path shown to users (their own spelling of the keys) and the
// JSON pointer used to look up its line in the document.
struct Loc {
  std::string path;
  std::string pointer;

  Loc Key(std::string_view key) const;
  Loc Index(size_t i) const;
  // From a JSON pointer into doc ("/services/0" reads "services[0]"); doc may be null.
  static Loc FromPointer(const Document* doc, const std::string& pointer);
};

// One member of an object, matched to a field.
struct Member {
  std::string key;  // as the user spelled it
  const nlohmann::json* value = nullptr;
  Loc loc;
  const Field* field = nullptr;
};
// By canonical field name. Null members are absent, as with Go's decoder.
using Members = std::map<std::string_view, Member>;

// Reads document nodes against schemas. `doc` (may be null, e.g. for HTTP bodies) supplies the
// file and line numbers; it must outlive the reader.
class SchemaReader {
 public:
  explicit SchemaReader(const Document* doc, MessageStyle style = {}) : doc_(doc), style_(style) {}

  // " (line 3 of web.json)" / " (web.json:3)" / "" for messages.
  std::string Where(const Loc& loc) const;
  // "path: msg (where)".
  Status Fail(const Loc& loc, std::string_view msg) const;
  // "path: expected <expected>, got <what v is> (where)".
  Status Wrong(const Loc& loc, std::string_view expected, const nlohmann::json& got) const;

  // Matches the members of `obj` (which must be an object) to `schema`'s fields: an unknown key is
  // an error with the nearest valid one, two spellings of one field are an error, and a required
  // field that is missing is an error. Types are not checked; see Check() and the As* readers.
  Status ReadObject(const nlohmann::json& obj, const Loc& loc, const Schema& schema,
                    Members* out) const;

  // Checks `*v` against `field`'s type and rewrites weakly typed values to their type in place
  // (objects recursively, repeated blocks merged as the schema says).
  Status Check(const Field& field, nlohmann::json* v, const Loc& loc) const;
  // Check() for every member of an object.
  Status CheckObject(const Schema& schema, nlohmann::json* obj, const Loc& loc) const;

  // Typed readers with weak conversion.
  Status AsString(const nlohmann::json& v, const Loc& loc, std::string* out) const;
  Status AsInt(const nlohmann::json& v, const Loc& loc, int64_t lo, int64_t hi,
               int64_t* out) const;
  Status AsBool(const nlohmann::json& v, const Loc& loc, bool* out) const;
  Status AsDuration(const nlohmann::json& v, const Loc& loc, int64_t* ns) const;
  Status AsStringList(const nlohmann::json& v, const Loc& loc,
                      std::vector<std::string>* out) const;
  Status AsStringMap(const nlohmann::json& v, const Loc& loc,
                     std::map<std::string, std::string>* out) const;

  const Document* doc() const { return doc_; }

 private:
  Status Unknown(std::string_view key, const Loc& loc, const Loc& at, const Schema& schema) const;

  const Document* doc_;
  MessageStyle style_;
};

}  // namespace gangway::codec
