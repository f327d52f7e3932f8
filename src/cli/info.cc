// gangway info: the agent's debugging sections (GET /v1/agent/self "Stats"), printed as Consul's
// "consul info" does. Sections the agent does not report yet (agent, build, consul) are filled
// from Config and Member and a few read-only endpoints, so operators get the usual keys.
#include <map>

#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"

namespace gangway::cli {

namespace {

using Section = std::map<std::string, std::string>;

std::string Text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

class InfoCommand : public Command {
 public:
  explicit InfoCommand(Environment& env) : env_(env) { http_.Register(&flags_, false); }

  std::string Synopsis() const override { return "Provides debugging information for operators."; }
  std::string Help() const override {
    return "Usage: gangway info [options]\n\n"
           "  Provides debugging information for operators\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
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
    std::map<std::string, Section> stats;
    if (const Json& st = JsonObject(*self, "Stats"); !st.empty()) {
      for (auto s = st.begin(); s != st.end(); ++s) {
        if (!s->is_object()) continue;
        for (auto kv = s->begin(); kv != s->end(); ++kv) stats[s.key()][kv.key()] = Text(*kv);
      }
    }
    Fill(*client, *self, &stats);
    for (const auto& [name, section] : stats) {
      *env_.out << name << ":\n";
      for (const auto& [k, v] : section) *env_.out << "\t" << k << " = " << v << "\n";
    }
    return 0;
  }

 private:
  // Best effort: a failing extra request leaves its keys out rather than failing the command.
  void Fill(const ApiClient& client, const Json& self, std::map<std::string, Section>* stats) {
    const Json& config = JsonObject(self, "Config");
    const Json& member = JsonObject(self, "Member");
    const Json& tags = JsonObject(member, "Tags");
    bool server = JsonBool(config, "Server");

    if (!stats->count("build")) {
      (*stats)["build"] = {{"prerelease", ""},
                           {"revision", JsonString(config, "Revision")},
                           {"version", JsonString(config, "Version")}};
    }
    if (!stats->count("agent")) {
      Section agent;
      if (auto services = client.GetJson("/v1/agent/services"); services.ok()) {
        agent["services"] = std::to_string(services->size());
      }
      if (auto checks = client.GetJson("/v1/agent/checks"); checks.ok()) {
        int ttls = 0;
        for (const auto& c : *checks) ttls += JsonString(c, "Type") == "ttl" ? 1 : 0;
        agent["checks"] = std::to_string(checks->size());
        agent["check_ttls"] = std::to_string(ttls);
        agent["check_monitors"] = "0";
      }
      if (!agent.empty()) (*stats)["agent"] = agent;
    }
    if (!stats->count("consul")) {
      Section consul = {{"acl", "disabled"}, {"server", server ? "true" : "false"}};
      if (server) {
        consul["bootstrap"] = JsonString(tags, "bootstrap") == "1" ? "true" : "false";
        if (auto dcs = client.GetJson("/v1/catalog/datacenters"); dcs.ok()) {
          consul["known_datacenters"] = std::to_string(dcs->size());
        }
        if (auto leader = client.GetJson("/v1/status/leader"); leader.ok()) {
          std::string addr = leader->is_string() ? leader->get<std::string>() : "";
          std::string me = JsonString(member, "Addr") + ":" + JsonString(tags, "port");
          consul["leader_addr"] = addr;
          consul["leader"] = !addr.empty() && addr == me ? "true" : "false";
        }
      } else if (auto peers = client.GetJson("/v1/status/peers"); peers.ok()) {
        consul["known_servers"] = std::to_string(peers->size());
      }
      (*stats)["consul"] = consul;
    }
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewInfoCommand(Environment& env) {
  return std::make_unique<InfoCommand>(env);
}

}  // namespace gangway::cli
