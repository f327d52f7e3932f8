// gangway join: asks the agent to join other agents' gossip pool
// (PUT /v1/agent/join/<address>[?wan=1]).
#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"

namespace gangway::cli {

namespace {

class JoinCommand : public Command {
 public:
  explicit JoinCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.Bool("wan", &wan_, "Joins a server to another server in the WAN pool.");
  }

  std::string Synopsis() const override { return "Tell Gangway agent to join cluster"; }
  std::string Help() const override {
    return "Usage: gangway join [options] address ...\n\n"
           "  Tells a running Gangway agent (with \"gangway agent\") to join the cluster\n"
           "  by specifying at least one existing member.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& addrs = flags_.Args();
    if (addrs.empty()) {
      *env_.err << "At least one address to join must be specified.\n" << Help() << "\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    int joined = 0;
    Params params;
    if (wan_) params.emplace_back("wan", "1");
    for (const auto& a : addrs) {
      auto r = client->Put("/v1/agent/join/" + EscapePathSegment(a), params);
      if (!r.ok()) {
        *env_.err << "Error joining address '" << a << "': " << r.status().message() << "\n";
        continue;
      }
      ++joined;
    }
    if (joined == 0) {
      *env_.err << "Failed to join any nodes.\n";
      return 1;
    }
    *env_.out << "Successfully joined cluster by contacting " << joined << " nodes.\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool wan_ = false;
};

}  // namespace

std::unique_ptr<Command> NewJoinCommand(Environment& env) {
  return std::make_unique<JoinCommand>(env);
}

}  // namespace gangway::cli
