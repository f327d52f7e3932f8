// gangway leave: asks the agent to leave the cluster gracefully and shut down
// (PUT /v1/agent/leave).
#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"

namespace gangway::cli {

namespace {

class LeaveCommand : public Command {
 public:
  explicit LeaveCommand(Environment& env) : env_(env) { http_.Register(&flags_, false); }

  std::string Synopsis() const override {
    return "Gracefully leaves the Gangway cluster and shuts down";
  }
  std::string Help() const override {
    return "Usage: gangway leave [options]\n\n"
           "  Causes the agent to gracefully leave the Gangway cluster and shutdown.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Error found unexpected args: [";
      for (size_t i = 0; i < flags_.Args().size(); ++i) {
        *env_.err << (i ? " " : "") << flags_.Args()[i];
      }
      *env_.err << "]\n" << Help() << "\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    if (auto r = client->Put("/v1/agent/leave"); !r.ok()) {
      *env_.err << "Error leaving: " << r.status().message() << "\n";
      return 1;
    }
    *env_.out << "Graceful leave complete\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewLeaveCommand(Environment& env) {
  return std::make_unique<LeaveCommand>(env);
}

}  // namespace gangway::cli
