// The command framework inside the CLI: what a command is, what it may touch (Environment), and
// the registry the dispatcher reads. Internal to src/cli; single-threaded.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiclient/client.h"
#include "apiclient/config.h"
#include "core/status.h"
#include "http/client.h"

namespace gangway::cli {

// Sends one HTTP request to the agent and waits for the answer (http::Fetch in production; a
// canned responder in tests).
using apiclient::Transport;
// Reads an environment variable; nullopt when unset.
using apiclient::GetEnv;

// Everything a command touches outside its arguments, so tests can run commands without a
// process environment, a terminal or an agent.
struct Environment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;
  GetEnv getenv;
  Transport transport;
};

// The process's environment: std::getenv, std::cin and http::Fetch.
Environment ProcessEnvironment(std::ostream& out, std::ostream& err);

class Command {
 public:
  virtual ~Command() = default;
  // One line for command lists.
  virtual std::string Synopsis() const = 0;
  // Full help: usage line, description, flags. No final newline.
  virtual std::string Help() const = 0;
  // Runs with the arguments after the command's name; returns the exit code, or kShowHelp to have
  // the dispatcher print Help() to stderr and exit 1 (parent commands without a subcommand).
  virtual int Run(const std::vector<std::string>& args) = 0;

  static constexpr int kShowHelp = -18511;
};

using CommandFactory = std::function<std::unique_ptr<Command>(Environment&)>;

struct CommandEntry {
  std::string name;  // "members", "kv put"
  CommandFactory factory;
};

// Every command, by full name. Defined in cli.cc.
const std::vector<CommandEntry>& Commands();

// Run() with an explicit environment (what tests call).
int RunWithEnvironment(const std::vector<std::string>& args, Environment& env);

// Factories, one per command file.
std::unique_ptr<Command> NewVersionCommand(Environment& env);
std::unique_ptr<Command> NewKeygenCommand(Environment& env);
std::unique_ptr<Command> NewOperatorCommand(Environment& env);
std::unique_ptr<Command> NewOperatorRaftCommand(Environment& env);
std::unique_ptr<Command> NewOperatorRaftListPeersCommand(Environment& env);
std::unique_ptr<Command> NewOperatorRaftRemovePeerCommand(Environment& env);
std::unique_ptr<Command> NewConnectCommand(Environment& env);
std::unique_ptr<Command> NewConnectCaCommand(Environment& env);
std::unique_ptr<Command> NewConnectCaGetConfigCommand(Environment& env);
std::unique_ptr<Command> NewConnectCaSetConfigCommand(Environment& env);
std::unique_ptr<Command> NewSnapshotCommand(Environment& env);
std::unique_ptr<Command> NewSnapshotSaveCommand(Environment& env);
std::unique_ptr<Command> NewSnapshotRestoreCommand(Environment& env);
std::unique_ptr<Command> NewSnapshotInspectCommand(Environment& env);
std::unique_ptr<Command> NewMembersCommand(Environment& env);
std::unique_ptr<Command> NewLockCommand(Environment& env);
std::unique_ptr<Command> NewInfoCommand(Environment& env);
std::unique_ptr<Command> NewLeaveCommand(Environment& env);
std::unique_ptr<Command> NewRttCommand(Environment& env);
std::unique_ptr<Command> NewJoinCommand(Environment& env);
std::unique_ptr<Command> NewStatusCommand(Environment& env);
std::unique_ptr<Command> NewConfigCommand(Environment& env);
std::unique_ptr<Command> NewConfigWriteCommand(Environment& env);
std::unique_ptr<Command> NewConfigReadCommand(Environment& env);
std::unique_ptr<Command> NewConfigListCommand(Environment& env);
std::unique_ptr<Command> NewConfigDeleteCommand(Environment& env);
std::unique_ptr<Command> NewIntentionCommand(Environment& env);
std::unique_ptr<Command> NewIntentionCreateCommand(Environment& env);
std::unique_ptr<Command> NewIntentionCheckCommand(Environment& env);
std::unique_ptr<Command> NewIntentionListCommand(Environment& env);
std::unique_ptr<Command> NewIntentionGetCommand(Environment& env);
std::unique_ptr<Command> NewIntentionDeleteCommand(Environment& env);
std::unique_ptr<Command> NewCatalogCommand(Environment& env);
std::unique_ptr<Command> NewCatalogServicesCommand(Environment& env);
std::unique_ptr<Command> NewCatalogNodesCommand(Environment& env);
std::unique_ptr<Command> NewCatalogDatacentersCommand(Environment& env);
std::unique_ptr<Command> NewKvCommand(Environment& env);
std::unique_ptr<Command> NewKvGetCommand(Environment& env);
std::unique_ptr<Command> NewKvPutCommand(Environment& env);
std::unique_ptr<Command> NewKvDeleteCommand(Environment& env);
std::unique_ptr<Command> NewServicesCommand(Environment& env);
std::unique_ptr<Command> NewServicesRegisterCommand(Environment& env);
std::unique_ptr<Command> NewServicesDeregisterCommand(Environment& env);
std::unique_ptr<Command> NewEventCommand(Environment& env);
std::unique_ptr<Command> NewKeyringCommand(Environment& env);
std::unique_ptr<Command> NewTlsCommand(Environment& env);
std::unique_ptr<Command> NewTlsCaCommand(Environment& env);
std::unique_ptr<Command> NewTlsCaCreateCommand(Environment& env);
std::unique_ptr<Command> NewTlsCertCommand(Environment& env);
std::unique_ptr<Command> NewTlsCertCreateCommand(Environment& env);
std::unique_ptr<Command> NewAclCommand(Environment& env);
std::unique_ptr<Command> NewAclBootstrapCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyCreateCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyDeleteCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyListCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyReadCommand(Environment& env);
std::unique_ptr<Command> NewAclPolicyUpdateCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleCreateCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleDeleteCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleListCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleReadCommand(Environment& env);
std::unique_ptr<Command> NewAclRoleUpdateCommand(Environment& env);
std::unique_ptr<Command> NewAclSetAgentTokenCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenCloneCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenCreateCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenDeleteCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenListCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenReadCommand(Environment& env);
std::unique_ptr<Command> NewAclTokenUpdateCommand(Environment& env);

// A parent command ("kv", "catalog") that only lists its subcommands.
std::unique_ptr<Command> NewParentCommand(std::string synopsis, std::string help);

// Prints "<parse error>\n\n<help>" to stderr as Consul's commands do on a bad flag.
int FlagError(Environment& env, const Status& parse_error, const Command& cmd);

// Prints `message` and a newline to stderr; returns 1, the exit code of a failed command.
int Fail(Environment& env, const std::string& message);

}  // namespace gangway::cli
