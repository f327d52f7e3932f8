// gangway status: the tutorial's "consul status" (which real Consul does not have), answered as a
// federation summary from read-only endpoints: this agent's datacenter and role, the Raft leader
// and peers, and which datacenters it has joined over the WAN ("Joined WAN: dc1, dc2"). Always
// ends with a note naming the Consul commands that show the same facts. "Connect trust:" lines say
// whether the other datacenters share this one's CA (cli/trust.h).
#include <algorithm>
#include <map>

#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"
#include "cli/members.h"
#include "cli/table.h"
#include "cli/trust.h"
#include "core/strings.h"

namespace gangway::cli {

namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// Counts of a member list by status, servers and clients apart.
struct PoolSummary {
  int total = 0, alive = 0, failed = 0, left = 0, servers = 0, clients = 0;
  void Add(const Json& m) {
    ++total;
    int64_t st = JsonInt(m, "Status");
    alive += st == 1;
    left += st == 3;
    failed += st == 4;
    (JsonString(JsonObject(m, "Tags"), "role") == "consul" ? servers : clients)++;
  }
  Json ToJson() const {
    return {{"Members", total}, {"Alive", alive}, {"Failed", failed}, {"Left", left},
            {"Servers", servers}, {"Clients", clients}};
  }
  std::string Text() const {
    std::string out = std::to_string(total) + (total == 1 ? " member" : " members") + ": " +
                      std::to_string(alive) + " alive";
    if (failed) out += ", " + std::to_string(failed) + " failed";
    if (left) out += ", " + std::to_string(left) + " left";
    out += " (" + std::to_string(servers) + (servers == 1 ? " server, " : " servers, ") +
           std::to_string(clients) + (clients == 1 ? " client)" : " clients)");
    return out;
  }
};

std::string Plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Connect CA: ours and that of every other datacenter we know of (joined over the WAN or named
// by the servers' catalog), read through the local agent.
struct TrustView {
  DatacenterCA local;
  std::vector<DatacenterCA> others;
};

TrustView ReadTrust(ApiClient& client, const std::string& dc, std::vector<std::string> known) {
  TrustView v;
  v.local = ReadDatacenterCA(dc, client.GetJson("/v1/connect/ca/roots"));
  if (v.local.trust_domain.empty()) return v;
  if (auto d = client.GetJson("/v1/catalog/datacenters"); d.ok() && d->is_array()) {
    for (const auto& name : *d) {
      if (name.is_string()) known.push_back(name.get<std::string>());
    }
  }
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  for (const auto& other : known) {
    if (other == dc) continue;
    v.others.push_back(ReadDatacenterCA(
        other, client.GetJson("/v1/connect/ca/roots", {{"dc", other}, {"stale", ""}})));
  }
  return v;
}

class StatusCommand : public Command {
 public:
  explicit StatusCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.String("format", &format_, "text|json",
                  "Output format: \"text\" (the default) or \"json\".");
  }

  std::string Synopsis() const override { return "Summarizes WAN federation (Gangway extension)"; }
  std::string Help() const override {
    return "Usage: gangway status [options]\n\n"
           "  Summarizes what this agent knows about federation: its datacenter and role,\n"
           "  the Raft leader and peers of its datacenter, its LAN pool, and the datacenters\n"
           "  joined over the WAN (\"Joined WAN\") with their servers alive and failed.\n"
           "  With Connect on, \"Connect trust\" says whether every other datacenter shares\n"
           "  this one's CA trust domain, and how to fix one that bootstrapped its own.\n"
           "  Consul has no such command; the same facts come from \"gangway members [-wan]\",\n"
           "  \"gangway catalog datacenters\" and \"gangway info\".\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    if (format_ != "text" && format_ != "json") {
      *env_.err << "Invalid format: " << format_ << " (must be \"text\" or \"json\")\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    auto self = client->GetJson("/v1/agent/self");
    if (!self.ok()) {
      *env_.err << "Error querying agent: " << self.status().message() << "\n";
      return 1;
    }
    const Json& config = JsonObject(*self, "Config");
    bool server = JsonBool(config, "Server");
    std::string dc = JsonString(config, "Datacenter");
    std::string primary = JsonString(config, "PrimaryDatacenter");

    // Raft: the leader and peers of this datacenter.
    std::string leader, leader_error;
    if (auto l = client->GetJson("/v1/status/leader"); !l.ok()) {
      leader_error = l.status().message();
    } else if (l->is_string()) {
      leader = l->get<std::string>();
    }
    std::vector<std::string> peers;
    if (auto p = client->GetJson("/v1/status/peers"); p.ok() && p->is_array()) {
      for (const auto& x : *p) {
        if (x.is_string()) peers.push_back(x.get<std::string>());
      }
    }

    // This datacenter's LAN pool.
    PoolSummary lan;
    if (auto m = client->GetJson("/v1/agent/members"); m.ok() && m->is_array()) {
      for (const auto& x : *m) lan.Add(x);
    }

    // Datacenters seen in the WAN pool (servers only): joined when any server is alive.
    Json wan = Json::array();
    if (auto w = client->GetJson("/v1/agent/members", {{"wan", "1"}}); w.ok() && w->is_array()) {
      wan = std::move(*w);
    }
    std::map<std::string, PoolSummary> dcs;
    for (const auto& m : wan) {
      std::string mdc = JsonString(JsonObject(m, "Tags"), "dc");
      if (!mdc.empty()) dcs[mdc].Add(m);
    }
    std::vector<std::string> joined, unreachable;
    for (const auto& [name, sum] : dcs) (sum.alive > 0 ? joined : unreachable).push_back(name);
    bool from_catalog = false;
    if (dcs.empty()) {
      // A client agent has no WAN pool; its servers' view of the datacenters stands in.
      if (auto known = client->GetJson("/v1/catalog/datacenters"); known.ok()) {
        for (const auto& d : *known) {
          if (d.is_string()) joined.push_back(d.get<std::string>());
        }
        from_catalog = true;
      }
    }

    TrustView trust = ReadTrust(*client, dc, joined);
    const std::string& td = trust.local.trust_domain;
    std::vector<std::string> trust_lines =
        ConnectTrustLines(trust.local, trust.others, primary.empty() ? dc : primary);

    if (format_ == "json") {
      Json out = {{"Node", JsonString(config, "NodeName")},
                  {"Datacenter", dc},
                  {"PrimaryDatacenter", primary},
                  {"Role", server ? "server" : "client"},
                  {"Leader", leader},
                  {"RaftPeers", peers},
                  {"LAN", lan.ToJson()},
                  {"JoinedWAN", joined},
                  {"UnreachableWAN", unreachable}};
      Json wj = Json::object();
      for (const auto& [name, sum] : dcs) wj[name] = sum.ToJson();
      out["WAN"] = wj;
      if (!leader_error.empty()) out["LeaderError"] = leader_error;
      if (!td.empty()) {
        Json tds = Json::object(), errors = Json::object();
        std::vector<std::string> mismatched;
        for (const auto& other : trust.others) {
          if (!other.error.empty()) {
            errors[other.datacenter] = other.error;
            continue;
          }
          tds[other.datacenter] = other.trust_domain;
          if (ToLower(other.trust_domain) != ToLower(td)) mismatched.push_back(other.datacenter);
        }
        out["ConnectCA"] = {{"TrustDomain", td},
                            {"Datacenters", tds},
                            {"TrustDomainMismatch", mismatched},
                            {"Errors", errors},
                            {"Trust", trust_lines}};
      }
      *env_.out << out.dump(2) << "\n";
      return 0;
    }

    std::vector<std::pair<std::string, std::string>> lines = {
        {"Datacenter:", dc},
        {"Node:", JsonString(config, "NodeName") + (server ? " (server)" : " (client)")}};
    if (!primary.empty()) lines.emplace_back("Primary DC:", primary);
    lines.emplace_back("Leader:", !leader_error.empty() ? "(unknown: " + leader_error + ")"
                                  : leader.empty()        ? std::string("(none)")
                                                          : leader);
    lines.emplace_back("Raft peers:", peers.empty() ? "(none)" : Join(peers, ", "));
    lines.emplace_back("LAN:", lan.Text());
    lines.emplace_back("Joined WAN:", (joined.empty() ? "(none)" : Join(joined, ", ")) +
                                          (from_catalog ? " (from the servers' catalog)" : ""));
    if (!unreachable.empty()) {
      lines.emplace_back("Unreachable:",
                         Join(unreachable, ", ") + " (no alive server in the WAN pool)");
    }
    if (!td.empty()) lines.emplace_back("Trust domain:", td);
    *env_.out << AlignPairs(lines, 2) << "\n";
    for (const auto& line : trust_lines) *env_.out << line << "\n";
    for (const auto& [name, sum] : dcs) {
      std::string text = "  " + name + ": " + Plural(sum.total, "server", "servers") + ", " +
                         std::to_string(sum.alive) + " alive";
      if (sum.failed) text += ", " + std::to_string(sum.failed) + " failed";
      if (sum.left) text += ", " + std::to_string(sum.left) + " left";
      *env_.out << text << "\n";
    }

    if (!wan.empty()) {
      auto table = FormatMembers(wan, false, ".*");
      if (table.ok() && !table->empty()) *env_.out << "\nWAN members:\n" << *table << "\n";
    }
    *env_.err << "note: \"gangway status\" is a Gangway summary; Consul has no status command "
                 "(see \"gangway members -wan\" and \"gangway catalog datacenters\")\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string format_ = "text";
};

}  // namespace

std::unique_ptr<Command> NewStatusCommand(Environment& env) {
  return std::make_unique<StatusCommand>(env);
}

}  // namespace gangway::cli
