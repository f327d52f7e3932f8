// JSON renderings of catalog types in Consul's HTTP API shapes (CamelCase), and the reverse for
// the types clients send. Pure; any thread.
#pragma once

#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

// Renderings. Strings are made valid UTF-8 the way Go's encoder does it (each invalid byte becomes
// U+FFFD), so dump() never throws on them.
Json NodeToJson(const Node& n);
Json NodeServiceToJson(const NodeService& s);          // agent/health "Service" shape
Json ProxyConfigToJson(const ProxyConfig& p);          // "Proxy"; unset fields omitted
Json CheckDefinitionToJson(const CheckDefinition& d);  // empty fields omitted; Go durations
Json HealthCheckToJson(const HealthCheck& c);
Json KVEntryToJson(const KVEntry& e);                      // Value base64, null when empty
Json SessionToJson(const Session& s);  // LockDelay in nanoseconds; empty check lists null
Json ServiceNodeToJson(const ServiceNode& sn);             // /v1/catalog/service/:name row
Json CheckServiceNodeToJson(const CheckServiceNode& csn);  // {Node, Service, Checks}
// {"Vec":[...],"Error":..,"Adjustment":..,"Height":..}, seconds.
Json CoordinateToJson(const coordinate::Coordinate& c);
// {"Node","Segment","Coord"} (/v1/coordinate/nodes row; also the log and snapshot form).
Json CoordinateEntryToJson(const CoordinateEntry& e);

// Decoders for request bodies (catalog register etc.). Field names match case-insensitively,
// unknown fields are ignored and null means absent, as with Go's encoding/json; a value of the
// wrong type is an error naming the field. Durations are Go duration strings or integer
// nanoseconds; KV Value is base64.
Result<Node> NodeFromJson(const Json& j);
Result<NodeService> NodeServiceFromJson(const Json& j);
Result<ProxyConfig> ProxyConfigFromJson(const Json& j);
Result<CheckDefinition> CheckDefinitionFromJson(const Json& j);
Result<HealthCheck> HealthCheckFromJson(const Json& j);
Result<KVEntry> KVEntryFromJson(const Json& j);
Result<ServiceNode> ServiceNodeFromJson(const Json& j);
Result<CheckServiceNode> CheckServiceNodeFromJson(const Json& j);
// A coordinate: Vec a list of at most 64 numbers, Error, Adjustment and Height numbers (absent:
// 0). Errors name the field under `path` ("Coord.Vec"). Validity (finite, dimensions) is the
// caller's to check.
Status DecodeCoordinateAt(const Json& j, const std::string& path, coordinate::Coordinate* out);
// {"Node","Segment","Coord"}; Node must not be empty, Coord must be present.
Status DecodeCoordinateEntryAt(const Json& j, const std::string& path, CoordinateEntry* out);

}  // namespace gangway::catalog
