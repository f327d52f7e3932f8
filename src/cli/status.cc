// gangway status: the tutorial's "consul status" (which real Consul does not have), answered as a
// federation summary from read-only endpoints: this agent's datacenter and role, the Raft leader
// and peers, and which datacenters it has joined over the WAN ("Joined WAN: dc1, dc2"). Always
// ends with a note naming the Consul commands that show the same facts.
#include <map>
#include <set>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/flags.h"
#include "cli/members.h"
#include "cli/table.h"

namespace gangway::cli {

namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

class StatusCommand : public Command {
 public:
  explicit StatusCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override { return "Summarizes WAN federation (Gangway extension)"; }
  std::string Help() const override {
    return "Usage: gangway status [options]\n\n"
           "  Summarizes what this agent knows about federation: its datacenter and role,\n"
           "  the Raft leader and peers of its datacenter, and the datacenters joined over\n"
           "  the WAN (\"Joined WAN\"). Consul has no such command; the same facts come from\n"
           "  \"gangway members -wan\", \"gangway catalog datacenters\" and \"gangway info\".\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    auto client = ApiClient::Create(http_, env_);
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
    std::vector<std::pair<std::string, std::string>> lines = {
        {"Datacenter:", dc},
        {"Node:", JsonString(config, "NodeName") + (server ? " (server)" : " (client)")}};
    std::string primary = JsonString(config, "PrimaryDatacenter");
    if (!primary.empty()) lines.emplace_back("Primary DC:", primary);

    auto leader = client->GetJson("/v1/status/leader");
    std::string leader_text;
    if (!leader.ok()) {
      leader_text = "(unknown: " + leader.status().message() + ")";
    } else if (!leader->is_string() || leader->get<std::string>().empty()) {
      leader_text = "(none)";
    } else {
      leader_text = leader->get<std::string>();
    }
    lines.emplace_back("Leader:", leader_text);
    if (auto peers = client->GetJson("/v1/status/peers"); peers.ok() && peers->is_array()) {
      std::vector<std::string> ps;
      for (const auto& p : *peers) {
        if (p.is_string()) ps.push_back(p.get<std::string>());
      }
      lines.emplace_back("Raft peers:", ps.empty() ? "(none)" : Join(ps, ", "));
    }

    // Datacenters seen in the WAN pool (servers only), by whether any of their servers is alive.
    Json wan = Json::array();
    if (auto w = client->GetJson("/v1/agent/members", {{"wan", "1"}}); w.ok() && w->is_array()) {
      wan = std::move(*w);
    }
    std::map<std::string, bool> dcs;  // name -> has an alive server
    for (const auto& m : wan) {
      std::string mdc = JsonString(JsonObject(m, "Tags"), "dc");
      if (mdc.empty()) continue;
      dcs[mdc] = dcs[mdc] || JsonInt(m, "Status") == 1;
    }
    std::vector<std::string> joined, unreachable;
    for (const auto& [name, alive] : dcs) (alive ? joined : unreachable).push_back(name);
    if (dcs.empty()) {
      // A client agent has no WAN pool; its servers' view of the datacenters stands in.
      if (auto known = client->GetJson("/v1/catalog/datacenters"); known.ok()) {
        for (const auto& d : *known) {
          if (d.is_string()) joined.push_back(d.get<std::string>());
        }
      }
    }
    lines.emplace_back("Joined WAN:", joined.empty() ? "(none)" : Join(joined, ", "));
    if (!unreachable.empty()) {
      lines.emplace_back("Unreachable:",
                         Join(unreachable, ", ") + " (no alive server in the WAN pool)");
    }
    *env_.out << AlignPairs(lines, 2) << "\n";

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
};

}  // namespace

std::unique_ptr<Command> NewStatusCommand(Environment& env) {
  return std::make_unique<StatusCommand>(env);
}

}  // namespace gangway::cli
