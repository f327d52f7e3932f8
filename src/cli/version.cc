// gangway version: what this binary is. Needs no agent.
#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"

#ifndef GANGWAY_VERSION
#define GANGWAY_VERSION "0.0.0"
#endif
#ifndef GANGWAY_REVISION
#define GANGWAY_REVISION "unknown"
#endif
#ifndef GANGWAY_BUILD_DATE
#define GANGWAY_BUILD_DATE "unknown"
#endif

namespace gangway::cli {

namespace {

class VersionCommand : public Command {
 public:
  explicit VersionCommand(Environment& env) : env_(env) {
    flags_.String("format", &format_, "pretty|json",
                  "Output format of version information. Must be \"pretty\" or \"json\". The "
                  "default value is \"pretty\".");
  }

  std::string Synopsis() const override { return "Prints the Gangway version"; }
  std::string Help() const override {
    return "Usage: gangway version [options]\n\n  Prints the Gangway version\n\n" + flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (format_ == "json") {
      Json j = {{"Version", GANGWAY_VERSION},
                {"Revision", GANGWAY_REVISION},
                {"Prerelease", ""},
                {"FullVersion", GANGWAY_VERSION},
                {"BuildDate", GANGWAY_BUILD_DATE},
                {"RPC", {{"Default", 2}, {"Min", 2}, {"Max", 3}}}};
      *env_.out << j.dump(2) << "\n";
      return 0;
    }
    if (format_ != "pretty") {
      *env_.err << "Invalid format: " << format_ << " (must be \"pretty\" or \"json\")\n";
      return 1;
    }
    *env_.out << "Gangway v" GANGWAY_VERSION "\n"
              << "Revision " GANGWAY_REVISION "\n"
              << "Build Date " GANGWAY_BUILD_DATE "\n"
              << "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use "
                 "protocol >2 when speaking to compatible agents)\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  std::string format_ = "pretty";
};

}  // namespace

std::unique_ptr<Command> NewVersionCommand(Environment& env) {
  return std::make_unique<VersionCommand>(env);
}

}  // namespace gangway::cli
