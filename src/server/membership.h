// The leader's view of LAN membership in the catalog, as Consul's leader reconciles it: every
// LAN member gets a node entry with the "serfHealth" check (passing while the member is alive,
// critical once it failed), servers of this datacenter also get the "consul" service, and
// members that left or were reaped are deregistered. Runs on the control loop; writes go
// through the Server like any other command, so followers see the same result.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "server/server.h"

namespace gangway::server {

// A LAN member as the reconciler needs it (the agent translates gossip members into this, so
// the server does not depend on the gossip layer).
struct LanMember {
  enum class Status { kAlive, kLeaving, kLeft, kFailed, kReaped };
  std::string name;
  std::string address;  // IP only
  Status status = Status::kAlive;
  std::map<std::string, std::string> tags;  // Consul's tags: dc, id, role, port, ...
};

inline constexpr const char* kSerfCheckName = "Serf Health Status";
inline constexpr const char* kSerfAliveOutput = "Agent alive and reachable";
inline constexpr const char* kSerfFailedOutput = "Agent not live or unreachable";

class MembershipReconciler {
 public:
  MembershipReconciler(Server& server, std::string datacenter, std::string self_name);

  // One member changed (a member event). Writes only when the catalog disagrees.
  void Reconcile(const LanMember& m);

  // Everything at once (on gaining leadership and every reconcile interval): every member,
  // then catalog nodes carrying serfHealth that gossip no longer knows are deregistered.
  void ReconcileAll(const std::vector<LanMember>& members);

  uint64_t writes() const { return writes_; }

 private:
  void HandleAlive(const LanMember& m);
  void HandleFailed(const LanMember& m);
  void HandleGone(const std::string& name);
  void Write(catalog::Command cmd, const std::string& what);

  Server& server_;
  std::string datacenter_;
  std::string self_;
  uint64_t writes_ = 0;
};

}  // namespace gangway::server
