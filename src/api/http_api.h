// The Consul-compatible HTTP API: routes /v1/... requests to the endpoint handlers (one file per
// resource) and applies Consul's method rules (405 with Allow). Loop thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "acl/authorizer.h"
#include "api/backend.h"
#include "api/filter.h"
#include "api/query.h"
#include "http/message.h"

namespace gangway::api {

using FilterPtr = std::shared_ptr<const Filter>;

// One request in flight, as endpoint handlers see it.
struct Call {
  Backend& backend;
  http::Request req;
  std::shared_ptr<http::Cancellation> cancel;
  http::Reply reply;
  QueryOptions opts;
  std::string rest;  // path after the route's prefix ("/v1/kv/" + rest)
  // What the request's token may do (docs/acl.md): resolved before the endpoint runs; allows
  // everything when ACLs are off.
  acl::AuthorizerPtr authz = acl::Authorizer::AllowAll();
  std::string accessor;      // the token's AccessorID ("" when ACLs are off)
  bool token_given = false;  // the client sent a token (filtered lists then say so)

  void Respond(http::Response r) { reply(std::move(r)); }
  void Json(const catalog::Json& body, int status = 200) { reply(JsonResponse(body, status)); }
  void Error(int status, const std::string& message) { reply(ErrorResponse(status, message)); }
  void Fail(const Status& s) { reply(StatusResponse(s)); }
};

using EndpointFn = void (*)(Call&);

// How a route meets the ACL system (docs/acl.md, "Enforcement").
enum class AclCheck : uint8_t {
  // The request's token is resolved before the endpoint runs (an unknown one is refused with
  // 403 "ACL not found"); the endpoint then checks what it needs with Authorize/Allowed and
  // filters what it lists. Every route is this unless it says otherwise.
  kHandler = 0,
  // Consul gates nothing here (status, CA roots): no token is resolved.
  kNone,
  // The endpoint resolves the token itself (bootstrap, token/self, the internal resolve).
  kSelf,
};

struct Route {
  std::string path;  // exact, or a prefix when it ends with '/'
  std::vector<std::string> methods;
  EndpointFn fn;
  // Served by the servers' state: forwarded to a server when this agent has none, and to the
  // named datacenter's servers for ?dc=<other>. Agent endpoints are answered locally.
  bool server_state = false;
  // Any server answers from its own Raft view (/v1/status/*), never forwarded to the leader.
  bool any_server = false;
  // Writes (methods other than GET) are taken by any server, whose own Apply reaches the
  // leader; used where the handler itself may forward (config entries go to the primary), so a
  // write spends no extra hop on the way.
  bool writes_on_any_server = false;
  // Runs on the agent that received the request, before it is forwarded or answered, for what
  // only that agent knows (a session's default Node). False: it has replied.
  bool (*prepare)(Call&) = nullptr;
  // Consul takes PUT only here (POST is refused with 405).
  bool put_only = false;
  AclCheck acl = AclCheck::kHandler;
};

// Route tables, one per resource file.
void AddAgentRoutes(std::vector<Route>* routes);
void AddCatalogRoutes(std::vector<Route>* routes);
void AddConfigRoutes(std::vector<Route>* routes);
void AddConnectRoutes(std::vector<Route>* routes);
void AddDiscoveryChainRoutes(std::vector<Route>* routes);
void AddEventRoutes(std::vector<Route>* routes);
void AddHealthRoutes(std::vector<Route>* routes);
void AddIntentionRoutes(std::vector<Route>* routes);
void AddKVRoutes(std::vector<Route>* routes);
void AddOperatorRoutes(std::vector<Route>* routes);
void AddProxyRoutes(std::vector<Route>* routes);
void AddStatusRoutes(std::vector<Route>* routes);
void AddRaftRoutes(std::vector<Route>* routes);
void AddSessionRoutes(std::vector<Route>* routes);
void AddCoordinateRoutes(std::vector<Route>* routes);
void AddAclRoutes(std::vector<Route>* routes);
void AddPreparedQueryRoutes(std::vector<Route>* routes);

class HttpApi : public http::Handler {
 public:
  explicit HttpApi(Backend backend);
  void Handle(http::Request req, std::shared_ptr<http::Cancellation> cancel,
              http::Reply reply) override;
  Backend& backend() { return backend_; }
  // Every route (for the ACL enumeration test).
  const std::vector<Route>& routes() const { return routes_; }

 private:
  void Run(const Route& match, Call call);
  Backend backend_;
  std::vector<Route> routes_;
};

// Runs an endpoint, turning an exception into a 500 that names it.
void RunEndpoint(EndpointFn fn, Call& call);

// Shared helpers for endpoint files.
// Parses a JSON request body; on failure replies 400 "Request decode failed: ..." and returns false.
bool DecodeBody(Call& call, catalog::Json* out);
// ?filter=: parses it once per request (null when absent); replies 400 and returns false when bad.
bool ParseFilter(Call& call, FilterPtr* out);
// Keeps the rows (array elements or map values) the filter matches; no-op for a null filter.
void FilterArray(const FilterPtr& f, catalog::Json* rows);
void FilterMap(const FilterPtr& f, catalog::Json* map);
// Sends a write to the primary datacenter, as ?dc=<primary> would (config entries and the
// intentions stored in them are written there); its answer reaches the client unchanged.
void ForwardToPrimary(Call& call, const std::string& primary);
// Go's encoding/json key matching for a request body's top level, as Consul decodes it
// (DisallowUnknownFields): each key is renamed to the one of `known` it equals
// case-insensitively (of keys naming one field, the last wins). An unknown key replies
// 400 `Request decode failed: json: unknown field "<key>"` and returns false.
bool FoldKeys(Call& call, catalog::Json* body, std::initializer_list<const char*> known);
// ACL checks for endpoints. Authorize replies 403 with Consul's text (naming the token's
// AccessorID, the permission and the resource) and returns false unless the request's token
// allows `level` on `r` named `name`; Allowed only answers.
bool Authorize(Call& call, acl::Resource r, std::string_view name, acl::Level level);
bool Allowed(const Call& call, acl::Resource r, std::string_view name, acl::Level level);
// The token a request carries: ?token=, X-Consul-Token, then Authorization: Bearer; "" if none.
std::string RequestToken(const http::Request& req);
// What the request's token may read, carried into a blocking query's reads (which outlive the
// Call). Each check notes in *filtered when it leaves something out.
struct AclView {
  explicit AclView(const Call& call) : authz(call.authz), token_given(call.token_given) {}
  acl::AuthorizerPtr authz;
  bool token_given = false;

  bool Allowed(acl::Resource r, std::string_view name, bool* filtered) const;
  bool Node(std::string_view node, bool* filtered) const;
  bool Service(std::string_view service, bool* filtered) const;
  // A service instance: service:read on the service and node:read on its node.
  bool Instance(std::string_view node, std::string_view service, bool* filtered) const;
  // A check: service:read on its service, or node:read on its node for a node check.
  bool Check(const catalog::HealthCheck& c, bool* filtered) const;
  // Consul's X-Consul-Results-Filtered-By-ACLs, set when something was left out and the
  // client sent a token.
  void Mark(bool filtered, http::Response* r) const;
};

// Catalog writes as Consul's vetRegisterWithACL / vetDeregisterWithACL decide them: node:write
// when the node record changes (or goes), service:write on each service (and on a proxy's
// destination), and for checks service:write on their service or node:write on the node.
// Reply 403 and return false when refused.
bool AuthorizeRegistration(Call& call, const catalog::RegisterRequest& req,
                           const catalog::Store* store);
bool AuthorizeDeregistration(Call& call, const catalog::DeregisterRequest& req,
                             const catalog::Store& store);
// The same decisions for any token: "" when allowed, else the 403 text.
std::string RegistrationDenial(const acl::Authorizer& authz, const std::string& accessor,
                               const catalog::RegisterRequest& req, const catalog::Store* store);
std::string DeregistrationDenial(const acl::Authorizer& authz, const std::string& accessor,
                                 const catalog::DeregisterRequest& req,
                                 const catalog::Store& store);
// What a token may apply through "Catalog.ApplyToken" (rpc/forwarding.h): an agent's catalog
// registrations and deregistrations, as the catalog endpoints decide them.
Status AuthorizeCommand(const acl::Authorizer& authz, const std::string& accessor,
                        const catalog::Command& cmd, const catalog::Store& store);

// ?near=<node> (docs/coordinates.md): the node whose estimated RTT orders a list; "" when
// absent, when coordinates are disabled, or for another datacenter. The receiving agent has
// already replaced "_agent" with its own node name (ResolveNearAgent), before any forwarding.
std::string NearNode(const Call& call);
// Also names the receiving agent in kAgentNodeHeader (unless a hop before did), which travels
// with a forwarded request: a prepared query's stored Near "_agent" means that agent, as
// Consul's QuerySource.Agent does. Only an ordering hint, as ?near=<node> is.
void ResolveNearAgent(http::Request* req, const std::string& node_name);
inline constexpr const char* kAgentNodeHeader = "X-Gangway-Agent-Node";
// Known datacenters, ours first, then by the median estimated WAN RTT from this server to each
// one's servers (Consul's getDatacentersByDistance); without WAN coordinates, by name. For
// /v1/catalog/datacenters and prepared-query failover.
std::vector<std::string> DatacentersByDistance(Backend& backend);
// Stable sort of API rows by estimated RTT from `near`: each row's "Node" is a node name or a
// node object (health rows); rows of nodes without a coordinate go last. No-op for "".
void SortNear(const catalog::Store& store, const std::string& near, catalog::Json* rows);

// Parses a boolean query value ("", "true", "false", "1", "0").
bool ParseBool(const std::string& v, bool* out);

}  // namespace gangway::api
