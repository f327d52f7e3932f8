// gangway operator raft list-peers|remove-peer (GET /v1/operator/raft/configuration,
// DELETE /v1/operator/raft/peer), with Consul's output.
#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"
#include "cli/table.h"

namespace gangway::cli {

namespace {

class ListPeersCommand : public Command {
 public:
  explicit ListPeersCommand(Environment& env) : env_(env) { http_.Register(&flags_); }
  std::string Synopsis() const override { return "Display the current Raft peer configuration"; }
  std::string Help() const override {
    return "Usage: gangway operator raft list-peers [options]\n\n"
           "  Displays the current Raft peer configuration.\n\n" + flags_.Usage();
  }
  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    auto conf = client->GetJson("/v1/operator/raft/configuration");
    if (!conf.ok()) {
      *env_.err << "Error getting peers: " << conf.status().message() << "\n";
      return 1;
    }
    std::vector<Row> rows = {{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}};
    if (conf->contains("Servers") && (*conf)["Servers"].is_array()) {
      for (const auto& s : (*conf)["Servers"]) {
        rows.push_back({JsonString(s, "Node"), JsonString(s, "ID"), JsonString(s, "Address"),
                        JsonBool(s, "Leader") ? "leader" : "follower",
                        JsonBool(s, "Voter") ? "true" : "false",
                        JsonString(s, "ProtocolVersion").empty() ? "<=1"
                                                                 : JsonString(s, "ProtocolVersion")});
      }
    }
    *env_.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class RemovePeerCommand : public Command {
 public:
  explicit RemovePeerCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.String("address", &address_, "IP:port",
                  "Remove a Gangway server with given address from the Raft configuration.");
    flags_.String("id", &id_, "id",
                  "Remove a Gangway server with the given ID from the Raft configuration.");
  }
  std::string Synopsis() const override {
    return "Remove a Gangway server from the Raft configuration";
  }
  std::string Help() const override {
    return "Usage: gangway operator raft remove-peer [options]\n\n"
           "  Remove the Gangway server with given -address from the Raft configuration.\n\n" +
           flags_.Usage();
  }
  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (address_.empty() == id_.empty()) {
      *env_.err << "Error removing peer: "
                << (address_.empty() ? "an address or id is required for the peer to remove"
                                     : "cannot give both an address and id")
                << "\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    Params params;
    if (!address_.empty()) params.emplace_back("address", address_);
    if (!id_.empty()) params.emplace_back("id", id_);
    auto r = client->Delete("/v1/operator/raft/peer", params);
    if (!r.ok()) {
      *env_.err << "Error removing peer: " << r.status().message() << "\n";
      return 2;
    }
    if (!address_.empty()) {
      *env_.out << "Removed peer with address \"" << address_ << "\"\n";
    } else {
      *env_.out << "Removed peer with id \"" << id_ << "\"\n";
    }
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string address_, id_;
};

}  // namespace

std::unique_ptr<Command> NewOperatorCommand(Environment&) {
  return NewParentCommand("Provides cluster-level tools for Gangway operators",
                          "Usage: gangway operator <subcommand> [options]\n\n"
                          "  Provides cluster-level tools for Gangway operators, such as "
                          "interacting\n  with the Raft subsystem.\n");
}
std::unique_ptr<Command> NewOperatorRaftCommand(Environment&) {
  return NewParentCommand("Provides cluster-level tools for Gangway operators",
                          "Usage: gangway operator raft <subcommand> [options]\n\n"
                          "  The Raft operator command is used to interact with Gangway's "
                          "Raft subsystem.\n");
}
std::unique_ptr<Command> NewOperatorRaftListPeersCommand(Environment& env) {
  return std::make_unique<ListPeersCommand>(env);
}
std::unique_ptr<Command> NewOperatorRaftRemovePeerCommand(Environment& env) {
  return std::make_unique<RemovePeerCommand>(env);
}

}  // namespace gangway::cli
