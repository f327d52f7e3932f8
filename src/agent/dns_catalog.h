// What the agent's DNS interface reads (dns::Catalog): a server answering for its own
// datacenter reads its store directly, as a ?stale read would; everything else (client agents,
// other datacenters, consistent reads) is an internal GET through the HTTP API's own routing,
// so forwarding to servers and datacenters works exactly as for HTTP clients. Loop thread only.
#pragma once

#include <string>

#include "acl/authorizer.h"
#include "api/backend.h"
#include "dns/config.h"
#include "dns/server.h"
#include "http/message.h"

namespace gangway::agent {

class DnsCatalog : public dns::Catalog {
 public:
  // api: where internal GETs go; backend: the agent's roles (server may be null).
  DnsCatalog(http::Handler& api, const api::Backend& backend, const dns::Config& config);

  std::string Datacenter() const override;
  void ServiceNodes(const std::string& dc, const std::string& service, bool connect,
                    Done<std::vector<catalog::CheckServiceNode>> done) override;
  void MeshGateways(const std::string& dc,
                    Done<std::vector<catalog::CheckServiceNode>> done) override;
  void Node(const std::string& dc, const std::string& node,
            Done<std::optional<catalog::Node>> done) override;
  void Nodes(const std::string& dc, Done<std::vector<catalog::Node>> done) override;
  void AllServiceNodes(const std::string& dc,
                       Done<std::vector<catalog::ServiceNode>> done) override;
  // Always through the API's execute endpoint, which runs the query where it lives (failover,
  // near sorting, the query's own token) exactly as for HTTP clients.
  void PreparedQuery(const std::string& dc, const std::string& query, const std::string& source_ip,
                     Done<dns::QueryAnswer> done) override;

 private:
  // The local store may answer: this agent is a server of dc, and stale reads are allowed
  // (within max_stale) or it leads, and with ACLs on the DNS token resolves here at once
  // (*authz: what it may read; everything when ACLs are off).
  const catalog::Store* LocalStore(const std::string& dc, acl::AuthorizerPtr* authz) const;
  // The token DNS lookups read with (Consul's tokens.dns, else tokens.default, else anonymous).
  std::string Token() const;
  // GET path (already escaped) with ?dc and the consistency mode; done(status, body). A 404 is
  // NotFound (a name error), as is a datacenter without a path.
  void Get(const std::string& path, const std::string& dc,
           std::function<void(Result<catalog::Json>)> done,
           decltype(http::Request::headers) headers = {});

  http::Handler& api_;
  const api::Backend& backend_;
  dns::Config config_;
};

}  // namespace gangway::agent
