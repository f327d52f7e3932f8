// How datacenters federate, as Consul's agent decides it: the LAN and WAN merge delegates
// (merge.go), WAN flooding (flood.go), a retry_join that names another datacenter's agent, and
// the translation of gossip members into what the server layer needs. Pure functions over
// gossip::Member values, except LanRefusals (owned by the agent, loop thread only).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gossip/serf.h"
#include "server/membership.h"
#include "server/server.h"

namespace gangway::agent {

// The member's tag `key`, "" when absent.
std::string TagOf(const gossip::Member& m, const std::string& key);

// A server ("role" = "consul") of datacenter `dc`.
bool IsServerOf(const gossip::Member& m, const std::string& dc);

// For the leader's catalog reconcile. `reaped`: the member was reaped (its last event).
server::LanMember ToLanMember(const gossip::Member& m, bool reaped);

// A server of some datacenter, for the Raft layer; nullopt for clients and members without an
// "id" tag. A leaving server still counts as alive (it is still a voter until it has left).
std::optional<server::ServerMember> ToServerMember(const gossip::Member& m, bool reaped);

// The servers of `dc` among `members` (the LAN pool's), in the pool's order.
std::vector<server::ServerMember> ServersOf(const std::vector<gossip::Member>& members,
                                            const std::string& dc);

// The datacenters with at least one alive member in the WAN pool, sorted, without duplicates.
std::vector<std::string> AliveDatacenters(const std::vector<gossip::Member>& wan_members);

// True when a member event tells a client agent to sync everything: a server joined.
bool ServerJoined(const gossip::MemberEvent& event);

// Consul's LAN merge delegate: a datacenter's LAN pool holds that datacenter only. Returns the
// first member whose "dc" tag names another datacenter (members without the tag pass).
std::optional<gossip::Member> ForeignMember(const std::vector<gossip::Member>& members,
                                            const std::string& dc);
// The LAN veto's text, Consul's: "Member 'b1' part of wrong datacenter 'dc2'".
Status WrongDatacenterError(const gossip::Member& m);

// Consul's WAN merge delegate: only servers join the WAN pool. The error names the first
// member that is not one: "Member 'c1' is not a server".
Status CheckWanMerge(const std::vector<gossip::Member>& members);

// WAN flooding: the addresses ("ip:wan_join_port") through which this server joins the alive
// servers of `dc` that the LAN pool knows but the WAN pool does not (WAN names are
// "<node>.<dc>"). Servers that advertise no WAN port are skipped.
std::vector<std::string> WanFloodAddresses(const std::vector<gossip::Member>& lan_members,
                                           const std::vector<gossip::Member>& wan_members,
                                           const std::string& dc);

// Members of other datacenters that the LAN merge delegate refused, by "ip:port", so that a
// retry_join naming one of them can be understood afterwards.
class LanRefusals {
 public:
  void Remember(const gossip::Member& m);
  // The refused member at `address` ("ip", "ip:port"; `default_port` when absent); failing an
  // exact match, one refused at the same IP. nullopt when the address names none.
  std::optional<gossip::Member> Find(const std::string& address, uint16_t default_port) const;

 private:
  std::map<std::string, gossip::Member> by_address_;
};

// What to do about a retry_join address whose LAN join was refused.
struct RefusedJoin {
  enum class Action {
    kRetry,         // not a wrong-datacenter refusal: keep retrying the address
    kDropAsClient,  // this agent is a client: it cannot reach another datacenter at all
    kDropNotServer, // the address is a client agent of the other datacenter
    kJoinWan,       // a server of the other datacenter: join it over the WAN instead
  };
  Action action = Action::kRetry;
  // kDropAsClient, kDropNotServer: the error to log and print; kJoinWan: the note.
  std::string message;
  std::string wan_address;  // kJoinWan: "ip:port" of the server's WAN pool
};

// The tutorial's form: retry_join naming a server of another datacenter. The LAN refuses it (as
// Consul does); a server then joins it over the WAN and says what it understood, a client
// cannot, and says why. `who` is the refused member at `address`, when known;
// `joins_wan`: this agent is a server with a WAN pool.
RefusedJoin ResolveRefusedJoin(const std::string& address, const Status& error,
                               const std::optional<gossip::Member>& who, bool joins_wan,
                               const std::string& datacenter);

}  // namespace gangway::agent
