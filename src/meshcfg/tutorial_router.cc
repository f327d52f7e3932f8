#include "meshcfg/tutorial_router.h"

#include <utility>

#include "codec/schema.h"

namespace gangway::meshcfg {
namespace {

using codec::Field;
using codec::FieldType;
using codec::Loc;
using codec::Member;
using codec::Members;
using codec::QuoteValue;
using codec::Schema;
using codec::SchemaReader;
using Json = nlohmann::json;

constexpr Field kServiceFields[] = {
    {.name = "Datacenter", .snake = "datacenter", .type = FieldType::kString, .required = true},
};
constexpr Schema kServiceSchema{kServiceFields};

constexpr Field kGatewayFields[] = {
    {.name = "Name", .snake = "name", .type = FieldType::kString},
    {.name = "ConsumerNamespace", .snake = "consumer_namespace", .type = FieldType::kString},
    {.name = "Mode", .snake = "mode", .type = FieldType::kString},
};
constexpr Schema kGatewaySchema{kGatewayFields};

constexpr Field kDestinationFields[] = {
    {.name = "Service", .snake = "service", .type = FieldType::kString},
    {.name = "Datacenter", .snake = "datacenter", .type = FieldType::kString},
};
constexpr Schema kDestinationSchema{kDestinationFields};

constexpr Field kRouteFields[] = {
    {.name = "Services", .snake = "services", .type = FieldType::kAny},
    {.name = "MeshGateway", .snake = "mesh_gateway", .type = FieldType::kObject,
     .object = &kGatewaySchema},
    {.name = "Destination", .snake = "destination", .type = FieldType::kObject,
     .object = &kDestinationSchema},
};
constexpr Schema kRouteSchema{kRouteFields};

constexpr Field kTopFields[] = {
    {.name = "Kind", .snake = "kind", .type = FieldType::kString, .required = true},
    {.name = "Name", .snake = "name", .type = FieldType::kString},
    {.name = "Services", .snake = "services", .type = FieldType::kAny},
    {.name = "Routes", .snake = "routes", .type = FieldType::kAny},
    {.name = "Meta", .snake = "meta", .type = FieldType::kStringMap},
    {.name = "Namespace", .snake = "namespace", .type = FieldType::kString},
    {.name = "Partition", .snake = "partition", .type = FieldType::kString},
};
constexpr Schema kTopSchema{kTopFields};

// A member by any spelling Consul's decoder accepts (case-insensitive, '_' ignored).
const Json* FindFolded(const Json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  const std::string want = codec::FoldKey(name);
  for (const auto& [key, value] : obj.items()) {
    if (codec::FoldKey(key) == want && !value.is_null()) return &value;
  }
  return nullptr;
}

bool IsGatewayRoute(std::string_view service) {
  return service.substr(0, 21) == "mesh-gateway-upstream";
}

class Reader {
 public:
  explicit Reader(const codec::Document* doc) : r_(doc) {}

  // `Services { <name> { Datacenter = "..." } }`: service name -> datacenter.
  Status ReadServices(const Json& v, const Loc& loc, std::map<std::string, std::string>* out) {
    if (!v.is_object()) return r_.Wrong(loc, "an object of services by name", v);
    for (const auto& [name, svc] : v.items()) {
      const Loc at = loc.Key(name);
      if (name.empty()) return r_.Fail(at, "a service name cannot be empty");
      Members m;
      if (Status s = r_.ReadObject(svc, at, kServiceSchema, &m); !s.ok()) return s;
      std::string dc;
      if (Status s = r_.AsString(*m["Datacenter"].value, m["Datacenter"].loc, &dc); !s.ok()) {
        return s;
      }
      if (dc.empty()) return r_.Fail(m["Datacenter"].loc, "the datacenter cannot be empty");
      (*out)[name] = dc;
    }
    return Status::Ok();
  }

  // Records service -> redirect, refusing a second, different place for one service.
  Status Send(const std::string& service, TutorialRedirect to, const Loc& loc,
              TutorialRouter* router) {
    if (to.service == service) to.service.clear();
    auto [it, inserted] = router->redirects.emplace(service, to);
    if (!inserted && !(it->second == to)) {
      auto where = [](const TutorialRedirect& r) {
        return (r.service.empty() ? std::string() : QuoteValue(r.service) + " in ") + r.datacenter;
      };
      return r_.Fail(loc, "service " + QuoteValue(service) + " is sent to " + where(it->second) +
                              " and to " + where(to) + "; one service has one destination");
    }
    return Status::Ok();
  }

  Status ReadRoute(const Json& v, const Loc& loc, const std::map<std::string, std::string>& top,
                   TutorialRouter* router) {
    Members m;
    if (Status s = r_.ReadObject(v, loc, kRouteSchema, &m); !s.ok()) return s;
    std::map<std::string, std::string> services = top;
    Loc services_loc = loc;
    if (m.count("Services")) {
      services.clear();
      services_loc = m["Services"].loc;
      if (Status s = ReadServices(*m["Services"].value, services_loc, &services); !s.ok()) {
        return s;
      }
    }
    if (m.count("MeshGateway")) {
      const Member& g = m["MeshGateway"];
      Members gm;
      if (Status s = r_.ReadObject(*g.value, g.loc, kGatewaySchema, &gm); !s.ok()) return s;
      std::string name, ns, mode;
      if (gm.count("Name")) {
        if (Status s = r_.AsString(*gm["Name"].value, gm["Name"].loc, &name); !s.ok()) return s;
      }
      if (gm.count("ConsumerNamespace")) {
        const Member& c = gm["ConsumerNamespace"];
        if (Status s = r_.AsString(*c.value, c.loc, &ns); !s.ok()) return s;
        if (!ns.empty() && ns != "default") {
          return r_.Fail(c.loc, "namespace " + QuoteValue(ns) +
                                    " does not exist here: namespaces are a Consul Enterprise "
                                    "feature; use \"default\" or leave the key out");
        }
      }
      if (gm.count("Mode")) {
        if (Status s = r_.AsString(*gm["Mode"].value, gm["Mode"].loc, &mode); !s.ok()) return s;
        if (!mode.empty() && mode != "local") {
          return r_.Fail(gm["Mode"].loc,
                         "this route sends traffic through the local mesh gateway: Mode must be "
                         "\"local\" (or left out); for mode " + QuoteValue(mode) +
                             " write proxy-defaults or service-defaults with MeshGateway { Mode }");
        }
      }
      if (!name.empty() && !router->local_gateway.empty() && name != router->local_gateway) {
        return r_.Fail(gm["Name"].loc, "the routes name two local gateways, " +
                                           QuoteValue(router->local_gateway) + " and " +
                                           QuoteValue(name) + "; traffic leaves through one");
      }
      if (!name.empty()) router->local_gateway = name;
      router->mesh_gateway = true;
    }
    TutorialRedirect to;
    std::string dest_dc;
    if (m.count("Destination")) {
      const Member& d = m["Destination"];
      Members dm;
      if (Status s = r_.ReadObject(*d.value, d.loc, kDestinationSchema, &dm); !s.ok()) return s;
      if (dm.count("Service")) {
        std::string svc;
        if (Status s = r_.AsString(*dm["Service"].value, dm["Service"].loc, &svc); !s.ok()) {
          return s;
        }
        if (IsGatewayRoute(svc)) {
          router->gateway_routes.push_back(svc);
        } else {
          to.service = svc;
        }
      }
      if (dm.count("Datacenter")) {
        if (Status s = r_.AsString(*dm["Datacenter"].value, dm["Datacenter"].loc, &dest_dc);
            !s.ok()) {
          return s;
        }
      }
    }
    if (services.empty()) {
      return r_.Fail(loc, "the route names no services: give it (or the entry) a Services map, "
                          "e.g. \"Services\": {\"api\": {\"Datacenter\": \"dc2\"}}");
    }
    for (const auto& [service, dc] : services) {
      to.datacenter = dest_dc.empty() ? dc : dest_dc;
      if (Status s = Send(service, to, services_loc.Key(service), router); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Result<TutorialRouter> Read(const Json& entry) {
    const Loc root;
    Members m;
    if (Status s = r_.ReadObject(entry, root, kTopSchema, &m); !s.ok()) return s;
    TutorialRouter router;
    if (m.count("Name")) {
      if (Status s = r_.AsString(*m["Name"].value, m["Name"].loc, &router.name); !s.ok()) {
        return s;
      }
    }
    if (m.count("Namespace") || m.count("Partition")) {
      const Member& e = m.count("Namespace") ? m["Namespace"] : m["Partition"];
      std::string v;
      if (Status s = r_.AsString(*e.value, e.loc, &v); !s.ok()) return s;
      if (!v.empty() && v != "default") {
        return r_.Fail(e.loc, QuoteValue(v) + " does not exist here: namespaces and partitions "
                                              "are Consul Enterprise features");
      }
    }
    std::map<std::string, std::string> top;
    if (m.count("Services")) {
      if (Status s = ReadServices(*m["Services"].value, m["Services"].loc, &top); !s.ok()) {
        return s;
      }
    }
    bool routed = false;
    if (m.count("Routes")) {
      const Member& routes = m["Routes"];
      if (!routes.value->is_array()) return r_.Wrong(routes.loc, "a list of routes", *routes.value);
      for (size_t i = 0; i < routes.value->size(); ++i) {
        Status s = ReadRoute((*routes.value)[i], routes.loc.Index(i), top, &router);
        if (!s.ok()) return s;
        routed = true;
      }
    }
    // Services that no route took go where the entry's map says.
    for (const auto& [service, dc] : top) {
      if (routed && router.redirects.count(service)) continue;
      Status s = Send(service, TutorialRedirect{dc, ""}, m["Services"].loc.Key(service), &router);
      if (!s.ok()) return s;
    }
    if (router.redirects.empty()) {
      return r_.Fail(root, "the router names no services: give it a Services map, e.g. "
                           "\"Services\": {\"api\": {\"Datacenter\": \"dc2\"}}");
    }
    return router;
  }

 private:
  SchemaReader r_;
};

// An entry as read from /v1/config, ready to be written back: without the store's fields.
Json Writable(const Json& existing) {
  Json out = existing;
  for (const char* k : {"CreateIndex", "ModifyIndex", "Hash"}) out.erase(k);
  return out;
}

}  // namespace

bool IsTutorialRouter(const Json& entry) {
  if (!entry.is_object()) return false;
  const Json* kind = FindFolded(entry, "Kind");
  if (kind == nullptr || !kind->is_string() || kind->get<std::string>() != "service-router") {
    return false;
  }
  if (FindFolded(entry, "Services") != nullptr) return true;
  const Json* routes = FindFolded(entry, "Routes");
  if (routes == nullptr || !routes->is_array()) return false;
  for (const auto& r : *routes) {
    if (FindFolded(r, "Services") != nullptr || FindFolded(r, "MeshGateway") != nullptr) {
      return true;
    }
  }
  return false;
}

Result<TutorialRouter> ReadTutorialRouter(const Json& entry, const codec::Document* doc) {
  return Reader(doc).Read(entry);
}

Json RedirectResolver(const std::string& service, const TutorialRedirect& redirect,
                      const Json* existing) {
  Json out = existing != nullptr && existing->is_object()
                 ? Writable(*existing)
                 : Json{{"Kind", "service-resolver"}, {"Name", service}};
  Json to = {{"Datacenter", redirect.datacenter}};
  if (!redirect.service.empty()) to["Service"] = redirect.service;
  out["Redirect"] = std::move(to);
  return out;
}

Json LocalGatewayProxyDefaults(const Json* existing) {
  Json out = existing != nullptr && existing->is_object()
                 ? Writable(*existing)
                 : Json{{"Kind", "proxy-defaults"}, {"Name", "global"}};
  if (!out.contains("MeshGateway") || !out["MeshGateway"].is_object()) {
    out["MeshGateway"] = Json::object();
  }
  out["MeshGateway"]["Mode"] = "local";
  return out;
}

std::string DescribeTranslation(const TutorialRouter& router) {
  std::string entries;
  std::string services;
  for (const auto& [service, to] : router.redirects) {
    if (!entries.empty()) entries += ", ";
    entries += "service-resolver " + QuoteValue(service) + " with Redirect { ";
    if (!to.service.empty()) entries += "Service = " + QuoteValue(to.service) + ", ";
    entries += "Datacenter = " + QuoteValue(to.datacenter) + " }";
    if (!services.empty()) services += ", ";
    services += QuoteValue(service) + " to " +
                (to.service.empty() ? std::string() : QuoteValue(to.service) + " in ") +
                to.datacenter;
  }
  if (router.mesh_gateway) entries += ", proxy-defaults \"global\" with MeshGateway { Mode = \"local\" }";
  std::string note =
      "a service-router in the mesh-gateway tutorial's shape, which Consul rejects (invalid "
      "config key \"Services\"); written as the entries it stands for: " +
      entries + ". Traffic for " + services;
  if (router.mesh_gateway) {
    note += " leaves through the local mesh gateway";
    if (!router.local_gateway.empty()) note += " " + QuoteValue(router.local_gateway);
  }
  note += ".";
  if (!router.name.empty()) {
    note += " The Name " + QuoteValue(router.name) +
            " is not a service, so no service-router is stored under it.";
  }
  for (const auto& r : router.gateway_routes) {
    note += " The destination " + QuoteValue(r) +
            " is the gateway route the local gateway already follows; nothing is written for it.";
  }
  return note;
}

}  // namespace gangway::meshcfg
