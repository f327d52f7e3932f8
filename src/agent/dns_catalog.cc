#include "agent/dns_catalog.h"

#include <chrono>

#include "acl/builtin.h"
#include "api/acl_resolver.h"
#include "apiclient/escape.h"
#include "catalog/json.h"

namespace gangway::agent {

DnsCatalog::DnsCatalog(http::Handler& api, const api::Backend& backend, const dns::Config& config)
    : api_(api), backend_(backend), config_(config) {}

std::string DnsCatalog::Datacenter() const { return backend_.info.datacenter; }

std::string DnsCatalog::Token() const {
  const acl::Tokens& t = backend_.acl.tokens;
  if (!t.dns.empty()) return t.dns;
  if (!t.default_token.empty()) return t.default_token;
  return acl::kAnonymousSecretID;
}

namespace {

// Rows the DNS token may read: service:read on the service and node:read on its node.
template <typename Row>
void Readable(const acl::AuthorizerPtr& authz, std::vector<Row>* rows) {
  if (authz->all_allowed()) return;
  std::erase_if(*rows, [&](const Row& r) {
    return !authz->Allowed(acl::Resource::kService, r.service.service, acl::Level::kRead) ||
           !authz->Allowed(acl::Resource::kNode, r.node.node, acl::Level::kRead);
  });
}

}  // namespace

const catalog::Store* DnsCatalog::LocalStore(const std::string& dc,
                                             acl::AuthorizerPtr* authz) const {
  server::Server* s = backend_.server;
  if (s == nullptr || dc != backend_.info.datacenter) return nullptr;
  *authz = acl::Authorizer::AllowAll();
  if (backend_.acl.enabled) {
    if (!backend_.acl_resolver) return nullptr;
    auto now = backend_.acl_resolver->ResolveNow(Token());
    if (!now) return nullptr;  // resolved through the API instead
    *authz = now->ok() ? (*now)->authz : acl::Authorizer::DenyAll();
  }
  if (s->IsLeader()) return &s->store();
  if (!config_.allow_stale) return nullptr;
  auto max = std::chrono::duration_cast<std::chrono::milliseconds>(config_.max_stale).count();
  if (s->LastContactMs() > max) return nullptr;
  return &s->store();
}

void DnsCatalog::Get(const std::string& path, const std::string& dc,
                     std::function<void(Result<catalog::Json>)> done,
                     decltype(http::Request::headers) headers) {
  http::Request req;
  req.method = "GET";
  req.headers = std::move(headers);
  req.target = path + (path.find('?') == std::string::npos ? "?" : "&") +
               "dc=" + apiclient::EscapeQueryValue(dc) + (config_.allow_stale ? "&stale" : "");
  if (!http::Request::ParseTarget(req.target, &req.path, &req.query)) {
    return done(InvalidArgument("bad lookup path " + path));
  }
  if (backend_.acl.enabled) req.headers["X-Consul-Token"] = Token();
  auto cancel = std::make_shared<http::Cancellation>();
  api_.Handle(std::move(req), cancel, [done = std::move(done)](http::Response r) {
    if (r.status == 200) {
      try {
        return done(catalog::Json::parse(r.body));
      } catch (const std::exception& e) {
        return done(Internal(std::string("undecodable answer: ") + e.what()));
      }
    }
    if (r.body.find("No path to datacenter") != std::string::npos) {
      return done(NotFound("no path to datacenter"));
    }
    if (r.status == 404) return done(NotFound(r.body));
    done(Unavailable("HTTP " + std::to_string(r.status) + ": " + r.body));
  });
}

namespace {
template <typename T, typename Decode>
Result<std::vector<T>> DecodeRows(const Result<catalog::Json>& body, Decode decode) {
  if (!body.ok()) return body.status();
  if (!body->is_array()) return Internal("answer is not an array");
  std::vector<T> out;
  for (const auto& row : *body) {
    auto r = decode(row);
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}
}  // namespace

void DnsCatalog::ServiceNodes(const std::string& dc, const std::string& service, bool connect,
                              Done<std::vector<catalog::CheckServiceNode>> done) {
  acl::AuthorizerPtr authz;
  if (const catalog::Store* store = LocalStore(dc, &authz)) {
    std::vector<catalog::CheckServiceNode> rows;
    store->CheckServiceNodes(nullptr, service, connect, &rows);
    Readable(authz, &rows);
    return done(std::move(rows));
  }
  Get(std::string(connect ? "/v1/health/connect/" : "/v1/health/service/") +
          apiclient::EscapePathSegment(service),
      dc, [done = std::move(done)](Result<catalog::Json> body) {
        done(DecodeRows<catalog::CheckServiceNode>(body, catalog::CheckServiceNodeFromJson));
      });
}

void DnsCatalog::MeshGateways(const std::string& dc,
                              Done<std::vector<catalog::CheckServiceNode>> done) {
  acl::AuthorizerPtr authz;
  if (const catalog::Store* store = LocalStore(dc, &authz)) {
    std::vector<catalog::CheckServiceNode> rows;
    store->ServiceDump(nullptr, "mesh-gateway", &rows);
    Readable(authz, &rows);
    return done(std::move(rows));
  }
  Get("/v1/internal/service-dump?kind=mesh-gateway", dc,
      [done = std::move(done)](Result<catalog::Json> body) {
        done(DecodeRows<catalog::CheckServiceNode>(body, catalog::CheckServiceNodeFromJson));
      });
}

void DnsCatalog::Node(const std::string& dc, const std::string& node,
                      Done<std::optional<catalog::Node>> done) {
  acl::AuthorizerPtr authz;
  if (const catalog::Store* store = LocalStore(dc, &authz)) {
    std::optional<catalog::Node> out;
    store->GetNode(nullptr, node, &out);
    if (!authz->Allowed(acl::Resource::kNode, node, acl::Level::kRead)) out.reset();
    return done(std::move(out));
  }
  Get("/v1/catalog/node/" + apiclient::EscapePathSegment(node), dc,
      [done = std::move(done)](Result<catalog::Json> body) {
        if (!body.ok()) return done(body.status());
        // An unknown node is `null`; otherwise {"Node": {...}, "Services": {...}}.
        if (body->is_null() || !body->contains("Node")) return done(std::optional<catalog::Node>());
        auto n = catalog::NodeFromJson((*body)["Node"]);
        if (!n.ok()) return done(n.status());
        done(std::optional<catalog::Node>(std::move(*n)));
      });
}

void DnsCatalog::Nodes(const std::string& dc, Done<std::vector<catalog::Node>> done) {
  acl::AuthorizerPtr authz;
  if (const catalog::Store* store = LocalStore(dc, &authz)) {
    std::vector<catalog::Node> rows;
    store->Nodes(nullptr, &rows);
    std::erase_if(rows, [&](const catalog::Node& n) {
      return !authz->Allowed(acl::Resource::kNode, n.node, acl::Level::kRead);
    });
    return done(std::move(rows));
  }
  Get("/v1/catalog/nodes", dc, [done = std::move(done)](Result<catalog::Json> body) {
    done(DecodeRows<catalog::Node>(body, catalog::NodeFromJson));
  });
}

void DnsCatalog::AllServiceNodes(const std::string& dc,
                                 Done<std::vector<catalog::ServiceNode>> done) {
  acl::AuthorizerPtr authz;
  if (const catalog::Store* store = LocalStore(dc, &authz)) {
    std::vector<catalog::ServiceNode> rows;
    store->AllServiceNodes(nullptr, &rows);
    std::erase_if(rows, [&](const catalog::ServiceNode& r) {
      return !authz->Allowed(acl::Resource::kService, r.service.service, acl::Level::kRead) ||
             !authz->Allowed(acl::Resource::kNode, r.node.node, acl::Level::kRead);
    });
    return done(std::move(rows));
  }
  // Without a store of its own, the agent asks for the catalog's services one by one; PTR
  // lookups are rare enough for that.
  Get("/v1/catalog/services", dc,
      [this, dc, done = std::move(done)](Result<catalog::Json> body) mutable {
        if (!body.ok()) return done(body.status());
        auto rows = std::make_shared<std::vector<catalog::ServiceNode>>();
        auto left = std::make_shared<size_t>(body->size());
        auto failed = std::make_shared<bool>(false);
        if (*left == 0) return done(std::move(*rows));
        auto shared_done = std::make_shared<Done<std::vector<catalog::ServiceNode>>>(std::move(done));
        for (const auto& [name, tags] : body->items()) {
          (void)tags;
          Get("/v1/catalog/service/" + apiclient::EscapePathSegment(name), dc,
              [rows, left, failed, shared_done](Result<catalog::Json> list) {
                auto decoded = DecodeRows<catalog::ServiceNode>(list, catalog::ServiceNodeFromJson);
                if (decoded.ok()) {
                  for (auto& r : *decoded) rows->push_back(std::move(r));
                } else if (!*failed) {
                  *failed = true;
                  (*shared_done)(decoded.status());
                }
                if (--*left == 0 && !*failed) (*shared_done)(std::move(*rows));
              });
        }
      });
}

void DnsCatalog::PreparedQuery(const std::string& dc, const std::string& query,
                               const std::string& source_ip, Done<dns::QueryAnswer> done) {
  decltype(http::Request::headers) headers;
  // The execute endpoint sorts a query near "_ip" by the client's address.
  if (!source_ip.empty()) headers["X-Forwarded-For"] = source_ip;
  Get("/v1/query/" + apiclient::EscapePathSegment(query) + "/execute", dc,
      [dc, done = std::move(done)](Result<catalog::Json> body) {
        if (!body.ok()) return done(body.status());
        if (!body->is_object()) return done(Internal("answer is not an object"));
        dns::QueryAnswer q;
        auto nodes = DecodeRows<catalog::CheckServiceNode>(body->value("Nodes", catalog::Json::array()),
                                                           catalog::CheckServiceNodeFromJson);
        if (!nodes.ok()) return done(nodes.status());
        q.nodes = std::move(*nodes);
        // Another datacenter's server may have written it: fields of the wrong type are
        // ignored rather than trusted.
        auto text = [](const catalog::Json& o, const char* key) {
          auto it = o.find(key);
          return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        q.service = text(*body, "Service");
        q.datacenter = text(*body, "Datacenter");
        if (q.datacenter.empty()) q.datacenter = dc;
        if (auto dns = body->find("DNS"); dns != body->end() && dns->is_object()) {
          q.ttl = text(*dns, "TTL");
        }
        done(std::move(q));
      },
      std::move(headers));
}

}  // namespace gangway::agent
