// The dispatcher: finds the command named by the leading words of the arguments (the longest
// registered name, so "kv put" wins over "kv"), handles -h/--help and -v/--version as Consul's
// CLI (mitchellh/cli) does, and runs it.
#include "cli/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"

namespace gangway::cli {

namespace {

constexpr char kUsage[] = "Usage: gangway [--version] [--help] <command> [<args>]";

// "agent" is run by tools/main.cc before the CLI sees the arguments; it is listed here so the
// command list is complete, and refuses to run from inside the CLI.
class AgentListing : public Command {
 public:
  std::string Synopsis() const override { return "Runs a Gangway agent"; }
  std::string Help() const override {
    return "Usage: gangway agent [options]\n\n"
           "  Starts the Gangway agent and runs until an interrupt is received. The agent\n"
           "  represents a single node in a cluster.";
  }
  int Run(const std::vector<std::string>&) override { return 1; }
};

// The proxy commands are run by tools/main.cc too (src/proxyd/command.h: the CLI may not link
// the data plane); they are listed here so "gangway --help" and "gangway connect" show them.
class ProxyListing : public Command {
 public:
  ProxyListing(Environment& env, std::string synopsis, std::string usage)
      : env_(env), synopsis_(std::move(synopsis)), usage_(std::move(usage)) {}
  std::string Synopsis() const override { return synopsis_; }
  std::string Help() const override { return usage_; }
  int Run(const std::vector<std::string>&) override {
    *env_.err << "The proxy is started by the gangway binary itself (\"" << usage_.substr(7)
              << "\"); it cannot run from inside the CLI.\n";
    return 1;
  }

 private:
  Environment& env_;
  std::string synopsis_;
  std::string usage_;
};

CommandFactory Listing(std::string synopsis, std::string usage) {
  return [synopsis, usage](Environment& env) -> std::unique_ptr<Command> {
    return std::make_unique<ProxyListing>(env, synopsis, usage);
  };
}

class Parent : public Command {
 public:
  Parent(std::string synopsis, std::string help)
      : synopsis_(std::move(synopsis)), help_(std::move(help)) {}
  std::string Synopsis() const override { return synopsis_; }
  std::string Help() const override { return help_; }
  int Run(const std::vector<std::string>&) override { return kShowHelp; }

 private:
  std::string synopsis_;
  std::string help_;
};

bool IsFlag(const std::string& a) { return !a.empty() && a[0] == '-'; }

const CommandEntry* Find(const std::string& name) {
  for (const auto& e : Commands()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// Immediate children of `parent` ("" for the top level), sorted by name.
std::vector<const CommandEntry*> Children(const std::string& parent) {
  std::vector<const CommandEntry*> out;
  for (const auto& e : Commands()) {
    if (parent.empty()) {
      if (e.name.find(' ') == std::string::npos) out.push_back(&e);
    } else if (e.name.size() > parent.size() + 1 && e.name.compare(0, parent.size(), parent) == 0 &&
               e.name[parent.size()] == ' ' &&
               e.name.find(' ', parent.size() + 1) == std::string::npos) {
      out.push_back(&e);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const CommandEntry* a, const CommandEntry* b) { return a->name < b->name; });
  return out;
}

std::string LastWord(const std::string& name) {
  size_t sp = name.rfind(' ');
  return sp == std::string::npos ? name : name.substr(sp + 1);
}

// "    name    synopsis" lines, names padded to the longest.
std::string CommandList(const std::vector<const CommandEntry*>& entries, Environment& env) {
  size_t longest = 0;
  for (const auto* e : entries) longest = std::max(longest, LastWord(e->name).size());
  std::string out;
  for (const auto* e : entries) {
    std::string n = LastWord(e->name);
    out += "    " + n + std::string(longest - n.size(), ' ') + "    " +
           e->factory(env)->Synopsis() + "\n";
  }
  return out;
}

std::string TopHelp(Environment& env) {
  return std::string(kUsage) + "\n\nAvailable commands are:\n" + CommandList(Children(""), env);
}

// A command's help followed by its subcommands, as mitchellh/cli's default template.
std::string CommandHelp(const CommandEntry& entry, const Command& cmd, Environment& env) {
  std::string out = cmd.Help();
  auto subs = Children(entry.name);
  if (!subs.empty()) {
    out += "\n\nSubcommands:\n" + CommandList(subs, env);
    if (!out.empty() && out.back() == '\n') out.pop_back();
  }
  return out + "\n";
}

}  // namespace

std::unique_ptr<Command> NewParentCommand(std::string synopsis, std::string help) {
  return std::make_unique<Parent>(std::move(synopsis), std::move(help));
}

int Fail(Environment& env, const std::string& message) {
  *env.err << message << "\n";
  return 1;
}

int FlagError(Environment& env, const Status& parse_error, const Command& cmd) {
  *env.err << parse_error.message() << "\n\n" << cmd.Help() << "\n";
  return 1;
}

const std::vector<CommandEntry>& Commands() {
  static const std::vector<CommandEntry> kCommands = {
      {"acl", NewAclCommand},
      {"acl bootstrap", NewAclBootstrapCommand},
      {"acl policy", NewAclPolicyCommand},
      {"acl policy create", NewAclPolicyCreateCommand},
      {"acl policy delete", NewAclPolicyDeleteCommand},
      {"acl policy list", NewAclPolicyListCommand},
      {"acl policy read", NewAclPolicyReadCommand},
      {"acl policy update", NewAclPolicyUpdateCommand},
      {"acl role", NewAclRoleCommand},
      {"acl role create", NewAclRoleCreateCommand},
      {"acl role delete", NewAclRoleDeleteCommand},
      {"acl role list", NewAclRoleListCommand},
      {"acl role read", NewAclRoleReadCommand},
      {"acl role update", NewAclRoleUpdateCommand},
      {"acl set-agent-token", NewAclSetAgentTokenCommand},
      {"acl token", NewAclTokenCommand},
      {"acl token clone", NewAclTokenCloneCommand},
      {"acl token create", NewAclTokenCreateCommand},
      {"acl token delete", NewAclTokenDeleteCommand},
      {"acl token list", NewAclTokenListCommand},
      {"acl token read", NewAclTokenReadCommand},
      {"acl token update", NewAclTokenUpdateCommand},
      {"agent", [](Environment&) { return std::make_unique<AgentListing>(); }},
      {"catalog", NewCatalogCommand},
      {"catalog datacenters", NewCatalogDatacentersCommand},
      {"catalog nodes", NewCatalogNodesCommand},
      {"catalog services", NewCatalogServicesCommand},
      {"config", NewConfigCommand},
      {"config delete", NewConfigDeleteCommand},
      {"config list", NewConfigListCommand},
      {"config read", NewConfigReadCommand},
      {"config write", NewConfigWriteCommand},
      {"connect", NewConnectCommand},
      {"connect ca", NewConnectCaCommand},
      {"connect ca get-config", NewConnectCaGetConfigCommand},
      {"connect ca set-config", NewConnectCaSetConfigCommand},
      {"connect envoy", Listing("Runs a mesh gateway or sidecar with Gangway's proxy (no Envoy)",
                                "Usage: gangway connect envoy [options]")},
      {"connect gateway", Listing("Runs a mesh gateway with Gangway's proxy",
                                  "Usage: gangway connect gateway mesh [options]")},
      {"connect proxy", Listing("Runs a Gangway Connect proxy",
                                "Usage: gangway connect proxy [options]")},
      {"event", NewEventCommand},
      {"gateway", Listing("Runs a mesh gateway with Gangway's proxy",
                          "Usage: gangway gateway mesh [options]")},
      {"info", NewInfoCommand},
      {"intention", NewIntentionCommand},
      {"intention check", NewIntentionCheckCommand},
      {"intention create", NewIntentionCreateCommand},
      {"intention delete", NewIntentionDeleteCommand},
      {"intention get", NewIntentionGetCommand},
      {"intention list", NewIntentionListCommand},
      {"join", NewJoinCommand},
      {"keygen", NewKeygenCommand},
      {"keyring", NewKeyringCommand},
      {"kv", NewKvCommand},
      {"kv delete", NewKvDeleteCommand},
      {"kv get", NewKvGetCommand},
      {"kv put", NewKvPutCommand},
      {"lock", NewLockCommand},
      {"leave", NewLeaveCommand},
      {"members", NewMembersCommand},
      {"operator", NewOperatorCommand},
      {"operator raft", NewOperatorRaftCommand},
      {"operator raft list-peers", NewOperatorRaftListPeersCommand},
      {"operator raft remove-peer", NewOperatorRaftRemovePeerCommand},
      {"rtt", NewRttCommand},
      {"services", NewServicesCommand},
      {"services deregister", NewServicesDeregisterCommand},
      {"services register", NewServicesRegisterCommand},
      {"snapshot", NewSnapshotCommand},
      {"snapshot inspect", NewSnapshotInspectCommand},
      {"snapshot restore", NewSnapshotRestoreCommand},
      {"snapshot save", NewSnapshotSaveCommand},
      {"status", NewStatusCommand},
      {"tls", NewTlsCommand},
      {"tls ca", NewTlsCaCommand},
      {"tls ca create", NewTlsCaCreateCommand},
      {"tls cert", NewTlsCertCommand},
      {"tls cert create", NewTlsCertCreateCommand},
      {"version", NewVersionCommand},
  };
  return kCommands;
}

Environment ProcessEnvironment(std::ostream& out, std::ostream& err) {
  Environment env;
  env.out = &out;
  env.err = &err;
  env.in = &std::cin;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.transport = http::Fetch;
  return env;
}

int RunWithEnvironment(const std::vector<std::string>& raw_args, Environment& env) {
  std::vector<std::string> args = raw_args;
  // Consul's main turns "-v"/"--version" anywhere before "--" into the version command.
  for (const auto& a : args) {
    if (a == "--") break;
    if (a == "-v" || a == "--version" || a == "-version") {
      args = {"version"};
      break;
    }
  }

  bool help = false;
  std::vector<std::string> top_flags;
  std::string name;
  size_t rest = args.size();  // index of the first argument after the command's name
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (a == "-h" || a == "-help" || a == "--help") {
      help = true;
      continue;
    }
    if (!name.empty()) continue;
    if (IsFlag(a)) {
      top_flags.push_back(a);
      continue;
    }
    name = a;
    rest = i + 1;
    // Extend with following words while that names a registered command ("kv" -> "kv put").
    while (rest < args.size() && !IsFlag(args[rest]) && Find(name + " " + args[rest])) {
      name += " " + args[rest];
      ++rest;
    }
  }

  if (help && name.empty()) {
    *env.out << TopHelp(env) << "\n";
    return 0;
  }
  const CommandEntry* entry = name.empty() ? nullptr : Find(name);
  if (entry == nullptr) {
    *env.err << TopHelp(env) << "\n";
    return 127;
  }
  auto cmd = entry->factory(env);
  if (help) {
    *env.out << CommandHelp(*entry, *cmd, env);
    return 0;
  }
  if (!top_flags.empty()) {
    *env.err << "Invalid flags before the subcommand. If these flags are for\n"
                "the subcommand, please put them after the subcommand.\n\n"
             << CommandHelp(*entry, *cmd, env);
    return 1;
  }
  if (entry->name == "agent") {
    *env.err << "The agent is started by the gangway binary itself (\"gangway agent\"); it "
                "cannot run from inside the CLI.\n";
    return 1;
  }
  int code = cmd->Run({args.begin() + static_cast<std::ptrdiff_t>(rest), args.end()});
  if (code == Command::kShowHelp) {
    *env.err << CommandHelp(*entry, *cmd, env);
    return 1;
  }
  return code;
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Environment env = ProcessEnvironment(out, err);
  return RunWithEnvironment(args, env);
}

}  // namespace gangway::cli
