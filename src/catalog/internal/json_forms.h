// Internals shared by json.cc, commands.cc and store.cc: a typed field reader for untrusted JSON
// objects, and the two renderings of catalog types (the HTTP API form and the storage form that
// log commands and snapshots carry). Not for use outside src/catalog. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog::internal {

// kApi: Consul's HTTP shapes; strings are made valid UTF-8 (as Go's encoder does), durations are
// Go duration strings and KV values base64. kStorage: byte-exact strings, durations as integer
// nanoseconds and KV values as MessagePack binary. Both forms decode with the *FromJson functions.
enum class Form { kApi, kStorage };

Json NodeToJson(const Node& n, Form form);
Json NodeServiceToJson(const NodeService& s, Form form);
Json ProxyConfigToJson(const ProxyConfig& p, Form form);
Json CheckDefinitionToJson(const CheckDefinition& d, Form form);
Json HealthCheckToJson(const HealthCheck& c, Form form);
Json KVEntryToJson(const KVEntry& e, Form form);
Json SessionToJson(const Session& s, Form form);

// Decoders for both forms; `path` prefixes field names in messages ("Service", "Checks[2]").
Status DecodeNodeAt(const Json& j, const std::string& path, Node* out);
Status DecodeNodeServiceAt(const Json& j, const std::string& path, NodeService* out);
Status DecodeProxyConfigAt(const Json& j, const std::string& path, ProxyConfig* out);
Status DecodeHealthCheckAt(const Json& j, const std::string& path, HealthCheck* out);
Status DecodeKVEntryAt(const Json& j, const std::string& path, KVEntry* out);
Status DecodeSessionAt(const Json& j, const std::string& path, Session* out);

// Reads typed fields out of a JSON object the way Go's encoding/json fills a struct: keys match
// case-insensitively, null counts as absent, unknown keys are ignored, and a value of the wrong
// type is an error naming the field. The first error sticks; later reads are no-ops.
class FieldReader {
 public:
  // `path` prefixes field names in messages, e.g. "Service" gives "Service.Port".
  FieldReader(const Json& j, std::string path);

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // The value of `key`, or nullptr when absent or null.
  const Json* Find(std::string_view key) const;
  std::string Path(std::string_view key) const;

  FieldReader& String(std::string_view key, std::string* out);
  FieldReader& Bool(std::string_view key, bool* out);
  FieldReader& Int(std::string_view key, int* out);
  FieldReader& Int64(std::string_view key, int64_t* out);
  FieldReader& Uint64(std::string_view key, uint64_t* out);
  FieldReader& StringList(std::string_view key, std::vector<std::string>* out);
  FieldReader& StringMap(std::string_view key, catalog::StringMap* out);
  // A duration: a Go duration string, or an integer count of nanoseconds.
  FieldReader& Duration(std::string_view key, int64_t* out);
  // Any JSON object, kept verbatim (null when absent).
  FieldReader& Object(std::string_view key, Json* out);

  // Records an error about `key` unless one is already recorded.
  void Fail(std::string_view key, std::string_view message);

 private:
  const Json* obj_ = nullptr;
  std::string path_;
  Status status_;
};

// Parses MessagePack into a DOM, refusing nesting deeper than `max_depth` (the reader recurses per
// level) and trailing bytes. Never throws. Implemented in commands.cc.
Result<Json> ParseMsgpack(std::string_view bytes, int max_depth);

// Go's %q, for messages that quote user strings the way Consul's do.
std::string Quote(std::string_view s);

// "number", "string", ... for messages.
const char* TypeName(const Json& j);

}  // namespace gangway::catalog::internal
