#include "proxy/inbound_http.h"

#include <utility>

namespace gangway::proxy {
namespace {

std::string RuleName(const AuthzRule& rule) {
  return rule.id.empty() ? "rule for " + rule.source : "intention " + rule.id;
}

}  // namespace

Result<InboundAuthz> InboundAuthz::Build(const Authz& authz) {
  InboundAuthz out;
  out.authz_ = authz;
  for (const AuthzRule& rule : authz.rules) {
    if (rule.permissions.empty()) {
      out.permissions_.emplace_back();
      continue;
    }
    // A permission's match is a route match without query parameters, so the route matcher
    // decides it: the same path, method and header semantics as the upstream side.
    RouteConfig table;
    for (const AuthzPermission& p : rule.permissions) {
      Route route;
      route.match = p.http;
      table.routes.push_back(std::move(route));
    }
    Result<HttpRouter> router = HttpRouter::Build(table);
    if (!router.ok()) return router.status();
    out.permissions_.emplace_back(std::move(*router));
  }
  return out;
}

AuthzDecision InboundAuthz::Check(std::string_view spiffe_id, const HttpRequest& request) const {
  for (size_t i = 0; i < authz_.rules.size(); ++i) {
    const AuthzRule& rule = authz_.rules[i];
    if (!SourceMatches(rule.source, spiffe_id)) continue;
    if (!permissions_[i]) {
      return {rule.allow, RuleName(rule) + (rule.allow ? " allows" : " denies")};
    }
    int p = permissions_[i]->Match(request);
    if (p >= 0) {
      bool allow = rule.permissions[static_cast<size_t>(p)].allow;
      return {allow, RuleName(rule) + " permission " + std::to_string(p) +
                         (allow ? " allows" : " denies")};
    }
    return {authz_.default_allow, RuleName(rule) + ": no permission matched; default " +
                                      (authz_.default_allow ? "allow" : "deny")};
  }
  return {authz_.default_allow, authz_.default_allow ? "no rule matched; default allow"
                                                     : "no rule matched; default deny"};
}

}  // namespace gangway::proxy
