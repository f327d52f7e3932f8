// /v1/agent/...: this agent's own view: self, members, local services and checks.
#include <functional>
#include <set>
#include <thread>

#include "api/http_api.h"
#include "catalog/json.h"
#include "catalog/service_definition.h"
#include "core/duration.h"
#include "core/log.h"

namespace gangway::api {
namespace {

std::string ContentHash(const std::string& body) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

catalog::Json AgentServiceJson(const Backend& b, const catalog::NodeService& s) {
  catalog::Json j = catalog::NodeServiceToJson(s);
  j.erase("CreateIndex");
  j.erase("ModifyIndex");
  j["Datacenter"] = b.info.datacenter;
  return j;
}

catalog::Json AgentCheckJson(const catalog::HealthCheck& c) {
  catalog::Json j = catalog::HealthCheckToJson(c);
  j.erase("CreateIndex");
  j.erase("ModifyIndex");
  return j;
}

// Agent-local endpoints block on a content hash (?hash=) instead of a Raft index.
void LocalBlocking(Call& call, std::function<http::Response()> fn) {
  auto hash = call.req.Query("hash");
  client::LocalAgent* agent = call.backend.agent;
  WatchHooks hooks;
  hooks.watch = [agent](const catalog::WatchSet&, std::function<void()> fire) {
    return agent->WatchLocal(std::move(fire));
  };
  hooks.unwatch = [agent](catalog::WatchId id) { agent->UnwatchLocal(id); };
  auto run = [hash, fn = std::move(fn)](bool final_run, catalog::WatchSet*, http::Response* r) {
    *r = fn();
    std::string current = ContentHash(r->body);
    if (!final_run && hash && *hash == current) return false;
    r->Set("X-Consul-ContentHash", current);
    return true;
  };
  Park(call.backend, call.opts.wait, std::move(hooks), std::move(run), std::move(call.cancel),
       std::move(call.reply));
}

constexpr const char* kRemoteScriptsDisabled =
    "Scripts are disabled on this agent from remote calls; to enable, configure "
    "'enable_script_checks' to true";

catalog::Json MemberJson(const Backend& b) {
  const auto& i = b.info;
  catalog::Json tags = {{"dc", i.datacenter},
                        {"id", i.node_id},
                        {"role", i.server ? "consul" : "node"},
                        {"segment", ""},
                        {"vsn", "2"},
                        {"vsn_min", "2"},
                        {"vsn_max", "3"},
                        {"build", i.version + ":" + i.revision},
                        {"acls", b.acl.enabled ? "1" : "0"}};
  if (i.server) {
    tags["port"] = std::to_string(i.server_port);
    tags["expect"] = "0";
    tags["raft_vsn"] = "3";
    if (i.dev) tags["bootstrap"] = "1";
  }
  return {{"Name", i.node_name}, {"Addr", i.advertise_address}, {"Port", i.serf_lan_port},
          {"Tags", tags},        {"Status", 1},                 {"ProtocolMin", 1},
          {"ProtocolMax", 5},    {"ProtocolCur", 2},            {"DelegateMin", 2},
          {"DelegateMax", 5},    {"DelegateCur", 4}};
}

catalog::Json PoolMemberJson(const gossip::Member& m);

// Serf's stats of a pool, as Consul's /v1/agent/self reports them (every value a string).
catalog::Json SerfStats(gossip::Pool& pool) {
  int members = 0, failed = 0, left = 0;
  for (const auto& m : pool.Members()) {
    ++members;
    if (m.status == gossip::MemberStatus::kFailed) ++failed;
    if (m.status == gossip::MemberStatus::kLeft) ++left;
  }
  const std::string resets = std::to_string(pool.serf().Stats().coordinate_resets);
  return {{"coordinate_resets", resets}, {"encrypted", pool.Encrypted() ? "true" : "false"},
          {"event_queue", "0"},       {"event_time", "1"},
          {"failed", std::to_string(failed)}, {"health_score", "0"},
          {"intent_queue", "0"},      {"left", std::to_string(left)},
          {"member_time", "1"},       {"members", std::to_string(members)},
          {"query_queue", "0"},       {"query_time", "1"}};
}

catalog::Json Stats(const Backend& b) {
  const auto& i = b.info;
  catalog::Json stats = catalog::Json::object();
  size_t checks = b.agent ? b.agent->checks().size() : 0;
  size_t services = b.agent ? b.agent->services().size() : 0;
  stats["agent"] = {{"check_monitors", "0"}, {"check_ttls", "0"},
                    {"checks", std::to_string(checks)}, {"services", std::to_string(services)}};
  stats["build"] = {{"prerelease", ""}, {"revision", i.revision.substr(0, 8)},
                    {"version", i.version}, {"version_metadata", ""}};
  if (b.server) {
    std::set<std::string> dcs = {i.datacenter};
    if (b.wan) {
      for (const auto& m : b.wan->Members()) {
        auto dc = m.tags.find("dc");
        if (dc != m.tags.end() && m.status == gossip::MemberStatus::kAlive) dcs.insert(dc->second);
      }
    }
    stats["consul"] = {{"acl", b.acl.enabled ? "enabled" : "disabled"},
                       {"bootstrap", i.dev ? "true" : "false"},
                       {"known_datacenters", std::to_string(dcs.size())},
                       {"leader", b.server->IsLeader() ? "true" : "false"},
                       {"leader_addr", b.server->Leader()},
                       {"server", "true"}};
    auto raft = b.server->RaftConfiguration();
    stats["raft"] = {{"applied_index", std::to_string(b.server->RaftIndex())},
                     {"commit_index", std::to_string(b.server->RaftIndex())},
                     {"fsm_pending", "0"},
                     {"last_contact", b.server->IsLeader() ? "0" : std::to_string(b.server->LastContactMs()) + "ms"},
                     {"last_log_index", std::to_string(b.server->RaftIndex())},
                     {"last_log_term", std::to_string(b.server->RaftTerm())},
                     {"num_peers", std::to_string(raft.empty() ? 0 : raft.size() - 1)},
                     {"protocol_version", "3"},
                     {"protocol_version_max", "3"},
                     {"protocol_version_min", "0"},
                     {"snapshot_version_max", "1"},
                     {"snapshot_version_min", "0"},
                     {"state", b.server->IsLeader() ? "Leader" : "Follower"},
                     {"term", std::to_string(b.server->RaftTerm())}};
  } else {
    int known = 0;
    if (b.lan) {
      for (const auto& m : b.lan->Members()) {
        auto role = m.tags.find("role");
        auto dc = m.tags.find("dc");
        if (role != m.tags.end() && role->second == "consul" && dc != m.tags.end() &&
            dc->second == i.datacenter && m.status == gossip::MemberStatus::kAlive) {
          ++known;
        }
      }
    }
    stats["consul"] = {{"acl", b.acl.enabled ? "enabled" : "disabled"}, {"known_servers", std::to_string(known)},
                       {"server", "false"}};
  }
  stats["runtime"] = {{"arch", "amd64"},
                      {"cpu_count", std::to_string(std::thread::hardware_concurrency())},
                      {"goroutines", "0"},
                      {"max_procs", std::to_string(std::thread::hardware_concurrency())},
                      {"os", "linux"},
                      {"version", "gangway"}};
  if (b.lan) stats["serf_lan"] = SerfStats(*b.lan);
  if (b.wan) stats["serf_wan"] = SerfStats(*b.wan);
  return stats;
}

// The name of a local service by ID ("" when unknown).
std::string LocalServiceName(const Backend& b, const std::string& id) {
  auto it = b.agent->services().find(id);
  return it == b.agent->services().end() ? std::string() : it->second.service.service;
}

// Writing a local check: service:write on its service, or node:write on this node.
bool AuthorizeCheckWrite(Call& call, const std::string& service_id) {
  if (service_id.empty()) {
    return Authorize(call, acl::Resource::kNode, call.backend.info.node_name, acl::Level::kWrite);
  }
  return Authorize(call, acl::Resource::kService, LocalServiceName(call.backend, service_id),
                   acl::Level::kWrite);
}

bool AuthorizeLocalCheck(Call& call, const std::string& check_id) {
  auto it = call.backend.agent->checks().find(check_id);
  // An unknown check is the handler's 404 to give; the node's write permission guards it.
  if (it == call.backend.agent->checks().end()) return AuthorizeCheckWrite(call, "");
  return AuthorizeCheckWrite(call, it->second.check.service_id);
}

// A registration through the agent: service:write on the service, its proxy's destination and
// its sidecar; checks as AuthorizeCheckWrite.
bool AuthorizeServiceRegistration(Call& call, const catalog::ServiceRegistration& reg) {
  const catalog::NodeService& s = reg.service;
  if (!Authorize(call, acl::Resource::kService, s.service, acl::Level::kWrite)) return false;
  if (s.proxy && !s.proxy->destination_service_name.empty() &&
      !Authorize(call, acl::Resource::kService, s.proxy->destination_service_name,
                 acl::Level::kWrite)) {
    return false;
  }
  if (reg.sidecar) {
    std::string name = reg.sidecar->service.service.empty() ? s.service + "-sidecar-proxy"
                                                            : reg.sidecar->service.service;
    if (!Authorize(call, acl::Resource::kService, name, acl::Level::kWrite)) return false;
  }
  return true;
}

void Self(Call& call) {
  if (!Authorize(call, acl::Resource::kAgent, call.backend.info.node_name, acl::Level::kRead)) return;
  const auto& i = call.backend.info;
  catalog::Json config = {{"Datacenter", i.datacenter},
                          {"PrimaryDatacenter", i.primary_datacenter},
                          {"NodeName", i.node_name},
                          {"NodeID", i.node_id},
                          {"Revision", i.revision},
                          {"Server", i.server},
                          {"Version", i.version},
                          {"BuildDate", "2026-11-27T00:00:00Z"}};
  // The same record and serializer as this agent's entry in /v1/agent/members, so clients can
  // find "me" by comparing them.
  catalog::Json member = call.backend.lan ? PoolMemberJson(call.backend.lan->LocalMember())
                                          : MemberJson(call.backend);
  // The agent's LAN coordinate (null when coordinates are off).
  catalog::Json coord = nullptr;
  if (call.backend.lan != nullptr && !call.backend.disable_coordinates) {
    if (auto c = call.backend.lan->serf().GetCoordinate()) coord = catalog::CoordinateToJson(*c);
  }
  call.Json({{"Config", config},
             {"DebugConfig", i.config},
             {"Coord", coord},
             {"Member", member},
             {"Stats", Stats(call.backend)},
             {"Meta", {{"consul-network-segment", ""}}},
             {"xDS", nullptr}});
}

catalog::Json PoolMemberJson(const gossip::Member& m) {
  catalog::Json tags = catalog::Json::object();
  for (const auto& [k, v] : m.tags) tags[k] = v;
  return {{"Name", m.name},
          {"Addr", m.addr.IpString()},
          {"Port", m.addr.port},
          {"Tags", tags},
          {"Status", static_cast<int>(m.status)},
          {"ProtocolMin", m.protocol_min},
          {"ProtocolMax", m.protocol_max},
          {"ProtocolCur", m.protocol_cur},
          {"DelegateMin", m.delegate_min},
          {"DelegateMax", m.delegate_max},
          {"DelegateCur", m.delegate_cur}};
}

void Members(Call& call) {
  bool wan = false;
  if (auto w = call.req.Query("wan")) {
    if (!ParseBool(*w, &wan)) return call.Error(400, "Invalid value for ?wan");
  }
  if (wan && call.req.Query("segment").value_or("") != "") {
    return call.Error(400, "Cannot provide a segment with wan=true");
  }
  gossip::Pool* pool = wan ? call.backend.wan : call.backend.lan;
  catalog::Json arr = catalog::Json::array();
  AclView acl(call);
  bool filtered = false;
  if (pool) {
    for (const auto& m : pool->Members()) {
      // WAN members are named <node>.<dc>; Consul checks node:read on the node part.
      std::string node = m.name;
      if (wan) node = node.substr(0, node.rfind('.'));
      if (acl.Node(node, &filtered)) arr.push_back(PoolMemberJson(m));
    }
  } else if (!wan && acl.Node(call.backend.info.node_name, &filtered)) {
    arr.push_back(MemberJson(call.backend));
  }
  http::Response r = JsonResponse(arr);
  acl.Mark(filtered, &r);
  call.Respond(std::move(r));
}

void Join(Call& call) {
  if (!Authorize(call, acl::Resource::kAgent, call.backend.info.node_name, acl::Level::kWrite)) return;
  std::string addr = call.rest;
  if (addr.empty()) return call.Error(400, "Missing address to join");
  bool wan = false;
  if (auto w = call.req.Query("wan")) {
    if (!ParseBool(*w, &wan)) return call.Error(400, "Invalid value for ?wan");
  }
  gossip::Pool* pool = wan ? call.backend.wan : call.backend.lan;
  if (!pool) {
    return call.Error(500, wan ? "Must be a server to join WAN cluster" : "LAN gossip is disabled");
  }
  auto reply = std::move(call.reply);
  pool->Join({addr}, [reply, addr](int n, Status s) {
    if (n == 0) {
      reply(ErrorResponse(500, "Failed to join " + addr + ": " + s.message()));
    } else {
      reply(http::Response::Text(200, ""));
    }
  });
}

void ForceLeave(Call& call) {
  if (!Authorize(call, acl::Resource::kOperator, "", acl::Level::kWrite)) return;
  std::string node = call.rest;
  if (node.empty()) return call.Error(400, "Missing node name");
  bool prune = call.req.Has("prune");
  bool wan = call.req.Has("wan");
  gossip::Pool* pool = wan ? call.backend.wan : call.backend.lan;
  if (!pool) return call.Error(500, "gossip is disabled");
  auto reply = std::move(call.reply);
  pool->ForceLeave(node, prune, [reply](Status s) {
    if (!s.ok()) return reply(StatusResponse(s));
    reply(http::Response::Text(200, ""));
  });
}

void Services(Call& call) {
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  Backend* b = &call.backend;
  AclView acl(call);
  LocalBlocking(call, [b, f, acl] {
    catalog::Json out = catalog::Json::object();
    bool filtered = false;
    for (const auto& [id, s] : b->agent->services()) {
      if (acl.Service(s.service.service, &filtered)) out[id] = AgentServiceJson(*b, s.service);
    }
    FilterMap(f, &out);
    http::Response r = JsonResponse(out);
    acl.Mark(filtered, &r);
    return r;
  });
}

void ServiceByID(Call& call) {
  std::string id = call.rest;
  if (!call.backend.agent->services().count(id)) {
    return call.Error(404, "unknown service ID: " + id);
  }
  if (!Authorize(call, acl::Resource::kService, LocalServiceName(call.backend, id),
                 acl::Level::kRead)) {
    return;
  }
  Backend* b = &call.backend;
  LocalBlocking(call, [b, id] {
    auto it = b->agent->services().find(id);
    if (it == b->agent->services().end()) return ErrorResponse(404, "unknown service ID: " + id);
    auto j = AgentServiceJson(*b, it->second.service);
    j["ContentHash"] = ContentHash(j.dump());
    return JsonResponse(j);
  });
}

void RegisterService(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected a JSON object");
  auto reg = catalog::DecodeServiceRegistration(body);
  if (!reg.ok()) return call.Error(400, "Invalid Service Registration: " + reg.status().message());
  if (catalog::HasScriptCheck(*reg) && !call.backend.enable_script_checks) {
    return call.Error(500, kRemoteScriptsDisabled);
  }
  if (!AuthorizeServiceRegistration(call, *reg)) return;
  bool replace = false;
  if (auto r = call.req.Query("replace-existing-checks")) {
    if (!ParseBool(*r, &replace)) return call.Error(400, "Invalid value for replace-existing-checks");
  }
  const std::string id = reg->service.id.empty() ? reg->service.service : reg->service.id;
  // Anti-entropy syncs it with the token it was registered with (the agent's default when the
  // request carried none), as Consul does.
  if (call.backend.acl.enabled) reg->token = RequestToken(call.req);
  std::string token = reg->token;
  Status s = call.backend.agent->AddService(std::move(*reg), replace);
  if (!s.ok()) return call.Fail(s);
  if (call.backend.persisted != nullptr) {
    if (Status saved = call.backend.persisted->Save(id, body, token); !saved.ok()) {
      LogWarn("agent", "service registered but not persisted: " + saved.message());
    }
  }
  call.Respond(http::Response::Text(200, ""));
}

void DeregisterService(Call& call) {
  if (call.backend.agent->services().count(call.rest) != 0 &&
      !Authorize(call, acl::Resource::kService, LocalServiceName(call.backend, call.rest),
                 acl::Level::kWrite)) {
    return;
  }
  Status s = call.backend.agent->RemoveService(call.rest);
  if (!s.ok()) return call.Fail(s);
  if (call.backend.persisted != nullptr) call.backend.persisted->Remove(call.rest);
  call.Respond(http::Response::Text(200, ""));
}

bool EnableParam(Call& call, bool* enable) {
  auto e = call.req.Query("enable");
  if (!e) {
    call.Error(400, "Missing value for enable");
    return false;
  }
  std::string v = *e;
  if (v == "true") {
    *enable = true;
  } else if (v == "false") {
    *enable = false;
  } else {
    call.Error(400, "Invalid value for enable: \"" + v + "\"");
    return false;
  }
  return true;
}

void ServiceMaintenance(Call& call) {
  bool enable = false;
  if (!EnableParam(call, &enable)) return;
  if (call.backend.agent->services().count(call.rest) != 0 &&
      !Authorize(call, acl::Resource::kService, LocalServiceName(call.backend, call.rest),
                 acl::Level::kWrite)) {
    return;
  }
  Status s = call.backend.agent->SetServiceMaintenance(call.rest, enable,
                                                       call.req.Query("reason").value_or(""));
  if (!s.ok()) return call.Fail(s);
  call.Respond(http::Response::Text(200, ""));
}

void NodeMaintenance(Call& call) {
  bool enable = false;
  if (!EnableParam(call, &enable)) return;
  if (!Authorize(call, acl::Resource::kNode, call.backend.info.node_name, acl::Level::kWrite)) return;
  call.backend.agent->SetNodeMaintenance(enable, call.req.Query("reason").value_or(""));
  call.Respond(http::Response::Text(200, ""));
}

void Checks(Call& call) {
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  Backend* b = &call.backend;
  AclView acl(call);
  LocalBlocking(call, [b, f, acl] {
    catalog::Json out = catalog::Json::object();
    bool filtered = false;
    for (const auto& [id, c] : b->agent->checks()) {
      catalog::HealthCheck named = c.check;
      if (!named.service_id.empty() && named.service_name.empty()) {
        named.service_name = LocalServiceName(*b, named.service_id);
      }
      if (named.node.empty()) named.node = b->info.node_name;
      if (acl.Check(named, &filtered)) out[id] = AgentCheckJson(c.check);
    }
    FilterMap(f, &out);
    http::Response r = JsonResponse(out);
    acl.Mark(filtered, &r);
    return r;
  });
}

void RegisterCheck(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected a JSON object");
  auto reg = catalog::DecodeCheckRegistration(body);
  if (!reg.ok()) return call.Error(400, reg.status().message());
  if (!reg->definition.script_args.empty() && !call.backend.enable_script_checks) {
    return call.Error(500, kRemoteScriptsDisabled);
  }
  if (!AuthorizeCheckWrite(call, reg->service_id)) return;
  if (call.backend.acl.enabled) reg->token = RequestToken(call.req);
  Status s = call.backend.agent->AddCheck(std::move(*reg));
  if (!s.ok()) return call.Fail(s.code() == Code::kNotFound ? Status(Code::kInvalidArgument, s.message()) : s);
  call.Respond(http::Response::Text(200, ""));
}

void DeregisterCheck(Call& call) {
  if (!AuthorizeLocalCheck(call, call.rest)) return;
  Status s = call.backend.agent->RemoveCheck(call.rest);
  if (!s.ok()) return call.Fail(s);
  call.Respond(http::Response::Text(200, ""));
}

void TTL(Call& call, const std::string& status) {
  std::string id = call.rest;
  if (!AuthorizeLocalCheck(call, id)) return;
  Status s = call.backend.agent->UpdateTTL(id, status, call.req.Query("note").value_or(""));
  if (!s.ok()) return call.Fail(s);
  call.Respond(http::Response::Text(200, ""));
}

void Pass(Call& call) { TTL(call, catalog::kPassing); }
void Warn(Call& call) { TTL(call, catalog::kWarning); }
void FailCheck(Call& call) { TTL(call, catalog::kCritical); }

void Update(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected a JSON object");
  std::string status, output;
  if (!FoldKeys(call, &body, {"Status", "Output"})) return;
  for (const auto& [k, v] : body.items()) {
    if (!v.is_string()) return call.Error(400, "Request decode failed: " + k + " must be a string");
    (k == "Status" ? status : output) = v.get<std::string>();
  }
  if (status != catalog::kPassing && status != catalog::kWarning && status != catalog::kCritical) {
    return call.Error(400, "Invalid check status: '" + status + "'");
  }
  if (!AuthorizeLocalCheck(call, call.rest)) return;
  Status s = call.backend.agent->UpdateTTL(call.rest, status, output);
  if (!s.ok()) return call.Fail(s);
  call.Respond(http::Response::Text(200, ""));
}

// Graceful leave: leave the gossip pools (peers then list us "left"), answer, shut down.
void Leave(Call& call) {
  if (!Authorize(call, acl::Resource::kAgent, call.backend.info.node_name, acl::Level::kWrite)) return;
  Backend* b = &call.backend;
  auto reply = std::move(call.reply);
  auto pending = std::make_shared<int>(0);
  auto finish = [b, reply, pending](Status) {
    if (--*pending > 0) return;
    reply(http::Response::Text(200, ""));
    if (b->shutdown) b->loop->Post(b->shutdown);
  };
  for (gossip::Pool* p : {b->lan, b->wan}) {
    if (p) ++*pending;
  }
  if (*pending == 0) {
    ++*pending;
    finish(Status::Ok());
    return;
  }
  for (gossip::Pool* p : {b->lan, b->wan}) {
    if (p) p->Leave(finish);
  }
}

}  // namespace

void AddAgentRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/agent/self", {"GET"}, Self});
  routes->push_back({"/v1/agent/members", {"GET"}, Members});
  routes->push_back({"/v1/agent/services", {"GET"}, Services});
  routes->push_back({"/v1/agent/service/register", {"PUT"}, RegisterService});
  routes->push_back({"/v1/agent/service/deregister/", {"PUT"}, DeregisterService});
  routes->push_back({"/v1/agent/service/maintenance/", {"PUT"}, ServiceMaintenance});
  routes->push_back({"/v1/agent/service/", {"GET"}, ServiceByID});
  routes->push_back({"/v1/agent/maintenance", {"PUT"}, NodeMaintenance});
  routes->push_back({"/v1/agent/checks", {"GET"}, Checks});
  routes->push_back({"/v1/agent/check/register", {"PUT"}, RegisterCheck});
  routes->push_back({"/v1/agent/check/deregister/", {"PUT"}, DeregisterCheck});
  // GET is accepted for TTL updates too: Consul before 1.0 took it, and clients of that era
  // (Debian's python3-consul among them) still send it.
  routes->push_back({"/v1/agent/check/pass/", {"PUT", "GET"}, Pass});
  routes->push_back({"/v1/agent/check/warn/", {"PUT", "GET"}, Warn});
  routes->push_back({"/v1/agent/check/fail/", {"PUT", "GET"}, FailCheck});
  routes->push_back({"/v1/agent/check/update/", {"PUT"}, Update});
  routes->push_back({"/v1/agent/leave", {"PUT"}, Leave});
  routes->push_back({"/v1/agent/join/", {"PUT"}, Join});
  routes->push_back({"/v1/agent/force-leave/", {"PUT"}, ForceLeave});
}

}  // namespace gangway::api
