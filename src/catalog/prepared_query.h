// Prepared queries as Consul's /v1/query API reads and writes them: the object, its decoding
// (Go's lenient encoding/json: names matched case-insensitively, unknown keys ignored), the
// checks Consul's PreparedQuery.Apply makes before a query reaches the log, templates
// (name_prefix_match with Consul's `${...}` interpolation and a Go-syntax regexp through RE2),
// and how a name given to execute, explain or DNS resolves to a query. Pure functions over
// untrusted input (fuzzed: prepared_query_fuzz); any thread. Facts: consul-api-more.md §3.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

inline constexpr std::string_view kQueryTemplateNamePrefixMatch = "name_prefix_match";

struct QueryTemplate {
  std::string type;  // "" (not a template) or "name_prefix_match"
  std::string regexp;
  bool remove_empty_tags = false;
};

struct QueryTarget {
  std::string peer;
  std::string datacenter;
};

struct QueryFailover {
  int64_t nearest_n = 0;
  std::vector<std::string> datacenters;
  std::vector<QueryTarget> targets;
};

struct ServiceQuery {
  std::string service;
  QueryFailover failover;
  bool only_passing = false;
  std::vector<std::string> ignore_check_ids;
  std::string near;  // a node name, "_agent" or "_ip"
  std::vector<std::string> tags;  // required; "!tag" forbidden; compared case-insensitively
  StringMap node_meta;
  StringMap service_meta;
  bool connect = false;
  std::string peer;
};

struct PreparedQuery {
  std::string id;
  std::string name;
  std::string session;
  std::string token;
  QueryTemplate tmpl;
  ServiceQuery service;
  std::string dns_ttl;  // a Go duration; "" = the agent's service_ttl
  Index create_index = 0;
  Index modify_index = 0;
};

// Decodes a /v1/query body. A failure is InvalidArgument "Request decode failed: ..." (400).
Result<PreparedQuery> DecodePreparedQuery(std::string_view body);
// The same from an already parsed value (a stored query, a forwarded one).
Result<PreparedQuery> PreparedQueryFromJson(const Json& j);
// Consul's JSON form. `hide_token`: Token shown as "<hidden>" (when non-empty).
Json PreparedQueryToJson(const PreparedQuery& q, bool hide_token = false);

// PreparedQuery.Apply's checks, in Consul's order, with its texts (HTTP 500): "Must be bound to
// a session", "Bad Token '<hidden>', ...", "Must provide a Service name to query",
// "Bad NearestN '<n>', must be >= 0", "Targets cannot be populated with NearestN or
// Datacenters", "Bad DNS TTL '<x>': ...", "DNS TTL '<ns>', must be >=0", and a template's own
// (TemplateCheck). Each prefixed "Invalid prepared query: ".
Status ValidatePreparedQuery(const PreparedQuery& q);

// A template's compile-time checks: a known Type ("Bad Template.Type '<t>'"), every string in
// Service a well-formed `${...}` text ("Bad format '<s>' in Service<path>: ..."), the regexp
// ("Bad Regexp: ..."), and a test render with the template's own name.
Status TemplateCheck(const PreparedQuery& q);

// Renders template `q` for the name looked up: ${name.full}, ${name.prefix} (the template's
// Name), ${name.suffix}, ${agent.segment} and ${match(N)} (submatch N of Template.Regexp on
// `full_name`; "" when it did not match or N is out of range) replaced in every string of
// Service; "" tags dropped when RemoveEmptyTags. Errors: "Bad evaluation for '<s>' in
// Service<path>: ...".
Result<PreparedQuery> RenderTemplate(const PreparedQuery& q, std::string_view full_name,
                                     std::string_view agent_segment = "");

// Which of `queries` a name given to execute, explain or DNS means: a query with that ID, else
// one with that Name, else the template whose Name is the longest prefix of it (a template with
// Name "" catches all). nullptr when none.
const PreparedQuery* ResolvePreparedQuery(const std::vector<PreparedQuery>& queries,
                                          std::string_view id_or_name);

// Whether an instance's tags pass `required`: every tag present, every "!tag" absent,
// case-insensitively.
bool TagsMatch(const std::vector<std::string>& instance_tags,
               const std::vector<std::string>& required);

}  // namespace gangway::catalog
