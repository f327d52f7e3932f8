#include "agent/federation.h"

#include <set>

#include "agent/joiner.h"
#include "gossip/transport.h"

namespace gangway::agent {

namespace {

// Consul's default serf_wan port, for a server that does not advertise its own.
constexpr const char* kDefaultWanPort = "8302";

}  // namespace

std::string TagOf(const gossip::Member& m, const std::string& key) {
  auto it = m.tags.find(key);
  return it == m.tags.end() ? "" : it->second;
}

bool IsServerOf(const gossip::Member& m, const std::string& dc) {
  auto role = m.tags.find("role");
  auto in = m.tags.find("dc");
  return role != m.tags.end() && role->second == "consul" && in != m.tags.end() &&
         in->second == dc;
}

server::LanMember ToLanMember(const gossip::Member& m, bool reaped) {
  server::LanMember out;
  out.name = m.name;
  out.address = m.addr.IpString();
  out.tags = m.tags;
  using S = server::LanMember::Status;
  switch (m.status) {
    case gossip::MemberStatus::kFailed: out.status = S::kFailed; break;
    case gossip::MemberStatus::kLeft: out.status = S::kLeft; break;
    case gossip::MemberStatus::kLeaving: out.status = S::kLeaving; break;
    default: out.status = S::kAlive; break;
  }
  if (reaped) out.status = S::kReaped;
  return out;
}

std::optional<server::ServerMember> ToServerMember(const gossip::Member& m, bool reaped) {
  if (TagOf(m, "role") != "consul" || TagOf(m, "id").empty()) return std::nullopt;
  server::ServerMember out;
  out.node = m.name;
  out.node_id = TagOf(m, "id");
  std::string ip = m.addr.IpString();
  out.rpc_address = ip + ":" + TagOf(m, "port");
  // Raft shares the RPC port unless the server advertises a port of its own.
  std::string raft_port = TagOf(m, "raft_port");
  out.raft_address = raft_port.empty() ? out.rpc_address : ip + ":" + raft_port;
  using S = server::ServerMember::Status;
  out.status = reaped || m.status == gossip::MemberStatus::kLeft ? S::kLeft
               : m.status == gossip::MemberStatus::kFailed       ? S::kFailed
                                                                 : S::kAlive;
  if (m.status == gossip::MemberStatus::kLeaving) out.status = S::kAlive;
  return out;
}

std::vector<server::ServerMember> ServersOf(const std::vector<gossip::Member>& members,
                                            const std::string& dc) {
  std::vector<server::ServerMember> out;
  for (const auto& m : members) {
    auto it = m.tags.find("dc");
    if (it == m.tags.end() || it->second != dc) continue;
    if (auto sm = ToServerMember(m, false)) out.push_back(std::move(*sm));
  }
  return out;
}

std::vector<std::string> AliveDatacenters(const std::vector<gossip::Member>& wan_members) {
  std::set<std::string> dcs;
  for (const auto& m : wan_members) {
    auto it = m.tags.find("dc");
    if (it != m.tags.end() && m.status == gossip::MemberStatus::kAlive) dcs.insert(it->second);
  }
  return std::vector<std::string>(dcs.begin(), dcs.end());
}

bool ServerJoined(const gossip::MemberEvent& event) {
  if (event.type != gossip::MemberEventType::kJoin) return false;
  for (const auto& m : event.members) {
    auto role = m.tags.find("role");
    if (role != m.tags.end() && role->second == "consul") return true;
  }
  return false;
}

std::optional<gossip::Member> ForeignMember(const std::vector<gossip::Member>& members,
                                            const std::string& dc) {
  for (const auto& m : members) {
    auto it = m.tags.find("dc");
    if (it != m.tags.end() && it->second != dc) return m;
  }
  return std::nullopt;
}

Status WrongDatacenterError(const gossip::Member& m) {
  return InvalidArgument("Member '" + m.name + "' part of wrong datacenter '" + TagOf(m, "dc") +
                         "'");
}

Status CheckWanMerge(const std::vector<gossip::Member>& members) {
  for (const auto& m : members) {
    auto role = m.tags.find("role");
    if (role == m.tags.end() || role->second != "consul") {
      return InvalidArgument("Member '" + m.name + "' is not a server");
    }
  }
  return Status::Ok();
}

std::vector<std::string> WanFloodAddresses(const std::vector<gossip::Member>& lan_members,
                                           const std::vector<gossip::Member>& wan_members,
                                           const std::string& dc) {
  std::set<std::string> in_wan;
  for (const auto& m : wan_members) in_wan.insert(m.name);
  std::vector<std::string> out;
  for (const auto& m : lan_members) {
    if (m.status != gossip::MemberStatus::kAlive || TagOf(m, "role") != "consul" ||
        TagOf(m, "dc") != dc || TagOf(m, "wan_join_port").empty() ||
        in_wan.count(m.name + "." + dc)) {
      continue;
    }
    out.push_back(m.addr.IpString() + ":" + TagOf(m, "wan_join_port"));
  }
  return out;
}

void LanRefusals::Remember(const gossip::Member& m) { by_address_[m.addr.ToString()] = m; }

std::optional<gossip::Member> LanRefusals::Find(const std::string& address,
                                                uint16_t default_port) const {
  auto parsed = gossip::Address::Parse(address, default_port);
  if (!parsed.ok()) return std::nullopt;
  if (auto it = by_address_.find(parsed->ToString()); it != by_address_.end()) return it->second;
  // The address's port may be one the member does not gossip on (say, a forwarded port): the
  // last member refused at that IP is the best guess.
  std::optional<gossip::Member> who;
  for (const auto& [key, m] : by_address_) {
    if (m.addr.ip == parsed->ip) who = m;
  }
  return who;
}

RefusedJoin ResolveRefusedJoin(const std::string& address, const Status& error,
                               const std::optional<gossip::Member>& who, bool joins_wan,
                               const std::string& datacenter) {
  RefusedJoin out;
  std::string dc = WrongDatacenterIn(error.message());
  if (dc.empty()) return out;  // unreachable and the like: retry later
  std::string name = who ? who->name : "?";
  if (!joins_wan) {
    out.action = RefusedJoin::Action::kDropAsClient;
    out.message = "retry_join \"" + address + "\" is agent '" + name + "' of datacenter '" + dc +
                  "', but this agent is a client of datacenter '" + datacenter +
                  "': a LAN join reaches only its own datacenter, and only servers join " +
                  "other datacenters (over the WAN, with retry_join_wan). Remove \"" + address +
                  "\" from retry_join.";
    return out;
  }
  if (!who || TagOf(*who, "role") != "consul") {
    out.action = RefusedJoin::Action::kDropNotServer;
    out.message = "retry_join \"" + address + "\" is client agent '" + name +
                  "' of datacenter '" + dc + "': datacenters federate through their " +
                  "servers only; list a server of '" + dc + "' in retry_join_wan instead.";
    return out;
  }
  std::string port = TagOf(*who, "wan_join_port");
  if (port.empty()) port = kDefaultWanPort;
  out.action = RefusedJoin::Action::kJoinWan;
  out.wan_address = who->addr.IpString() + ":" + port;
  out.message = "retry_join \"" + address + "\" names server '" + name + "' of datacenter '" +
                dc + "'; joining it over the WAN at " + out.wan_address +
                " instead. The canonical form is retry_join_wan = [\"" + out.wan_address +
                "\"].";
  return out;
}

}  // namespace gangway::agent
