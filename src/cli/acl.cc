// gangway acl bootstrap|policy|token|role|set-agent-token: the ACL system through /v1/acl/* and
// /v1/agent/token/<type>, with the flags, messages and output layouts (acl_format.h) of
// `consul acl`. IDs may be given as a unique prefix, resolved against the matching list as
// Consul's commands do.
#include <string>
#include <vector>

#include "cli/acl_format.h"
#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "cli/go_json.h"
#include "core/duration.h"
#include "core/flags.h"

namespace gangway::cli {
namespace {

// Reserved IDs (reference §5.4) that the commands accept by name.
constexpr char kAnonymousAccessor[] = "00000000-0000-0000-0000-000000000002";
constexpr char kGlobalManagementID[] = "00000000-0000-0000-0000-000000000001";

// Go's %q for the IDs and names the messages quote.
std::string Q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string Seg(const std::string& s) { return EscapePathSegment(s); }

// The full ID for a unique prefix of one, from the list at `list_path` ("ID" or "AccessorID"
// members). A full-length ID is taken as given, without asking.
Result<std::string> FromPartial(const ApiClient& client, const std::string& partial,
                                const char* list_path, const char* key, const char* what) {
  if (partial.size() == 36) return partial;
  auto list = client.GetJson(list_path);
  if (!list.ok()) return list.status();
  std::string found;
  for (const auto& e : list->is_array() ? *list : Json::array()) {
    const std::string id = JsonString(e, key);
    if (id.rfind(partial, 0) != 0) continue;
    if (!found.empty())
      return InvalidArgument(std::string("Partial ") + what + " ID is not unique");
    found = id;
  }
  if (found.empty()) {
    return InvalidArgument(std::string("No such ") + what + " ID with prefix: " + partial);
  }
  return found;
}

Result<std::string> TokenAccessor(const ApiClient& client, const std::string& partial) {
  if (partial == "anonymous") return std::string(kAnonymousAccessor);
  return FromPartial(client, partial, "/v1/acl/tokens", "AccessorID", "token");
}

Result<std::string> PolicyID(const ApiClient& client, const std::string& partial) {
  if (partial == "global-management") return std::string(kGlobalManagementID);
  return FromPartial(client, partial, "/v1/acl/policies", "ID", "policy");
}

Result<std::string> RoleID(const ApiClient& client, const std::string& partial) {
  return FromPartial(client, partial, "/v1/acl/roles", "ID", "role");
}

Result<Json> PolicyByName(const ApiClient& client, const std::string& name) {
  auto p = client.GetJson("/v1/acl/policy/name/" + Seg(name));
  if (!p.ok()) {
    return InvalidArgument("Failed to find policy with name " + name + ": " + p.status().message());
  }
  return p;
}

Result<std::string> RoleIDByName(const ApiClient& client, const std::string& name) {
  auto roles = client.GetJson("/v1/acl/roles");
  if (!roles.ok()) return roles.status();
  for (const auto& r : roles->is_array() ? *roles : Json::array()) {
    if (JsonString(r, "Name") == name) return JsonString(r, "ID");
  }
  return InvalidArgument("No such role with name " + name);
}

// Links for -policy-id/-policy-name (and the role forms): names as given, for the servers to
// resolve; IDs completed from a prefix. `what` is "policy" or "role".
Status AppendLinks(const ApiClient& client, const std::vector<std::string>& names,
                   const std::vector<std::string>& ids, const char* what, Json* links) {
  if (!links->is_array()) *links = Json::array();
  for (const auto& n : names) links->push_back({{"Name", n}});
  for (const auto& partial : ids) {
    auto id = std::string(what) == "policy" ? PolicyID(client, partial) : RoleID(client, partial);
    if (!id.ok()) {
      return InvalidArgument(std::string("Error resolving ") + what + " ID " + partial + ": " +
                             id.status().message());
    }
    links->push_back({{"ID", *id}});
  }
  return Status::Ok();
}

bool HasLink(const Json& links, const char* key, const std::string& value) {
  for (const auto& l : links.is_array() ? links : Json::array()) {
    if (JsonString(l, key) == value) return true;
  }
  return false;
}

// What every acl command shares: its flags, the agent client, the output format.
class AclCommand : public Command {
 public:
  AclCommand(Environment& env, std::string synopsis, std::string help)
      : env_(env), synopsis_(std::move(synopsis)), help_(std::move(help)) {}

  std::string Synopsis() const override { return synopsis_; }
  std::string Help() const override { return help_ + "\n\n" + flags_.Usage(); }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    return Execute();
  }

 protected:
  virtual int Execute() = 0;

  void FormatFlag(const char* what) {
    flags_.String("format", &format_text_, "string",
                  std::string("Output format {pretty|json}. How to print the ") + what +
                      "; the default is pretty.");
  }
  void MetaFlag(const char* what) {
    flags_.Bool("meta", &meta_,
                std::string("Indicates that ") + what +
                    " metadata such as the content hash and raft indices should be shown for "
                    "each entry");
  }

  // The -format value, or prints Consul's error. Checked before the agent is asked, so a typo
  // does not leave a write done and its result unprinted.
  bool Format(AclFormat* out) {
    auto f = ParseAclFormat(format_text_);
    if (!f.ok()) {
      Fail(env_, f.status().message());
      return false;
    }
    *out = *f;
    return true;
  }

  Result<ApiClient> Client() {
    auto c = NewApiClient(http_, env_);
    if (!c.ok()) Fail(env_, "Error connecting to Gangway agent: " + c.status().message());
    return c;
  }

  // The object a write answered with. A body that is not one is reported, since the write
  // itself went through.
  bool Decode(const std::string& body, Json* out) {
    *out = Json::parse(body, nullptr, false);
    if (out->is_object()) return true;
    Fail(env_, "Error decoding the agent's answer, which is not a JSON object: " + body);
    return false;
  }

  int Print(const std::string& text) {
    *env_.out << text << "\n";
    return 0;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string format_text_ = "pretty";
  bool meta_ = false;

 private:
  std::string synopsis_;
  std::string help_;
};

// ---------------------------------------------------------------------------------------------
// bootstrap

class BootstrapCommand : public AclCommand {
 public:
  explicit BootstrapCommand(Environment& env)
      : AclCommand(env, "Bootstrap Gangway's ACL system",
                   "Usage: gangway acl bootstrap [options] [SECRET-FILE]\n\n"
                   "  Asks the servers to create the initial management token, with unlimited\n"
                   "  privileges, and prints it. This can be done once; afterwards bootstrapping\n"
                   "  is refused until the bootstrap reset procedure is followed.\n\n"
                   "  The token's SecretID may be chosen by naming a file that holds it, or '-'\n"
                   "  to read it from stdin:\n\n"
                   "      $ gangway acl bootstrap\n"
                   "      $ gangway acl bootstrap secret.txt") {
    http_.Register(&flags_, false);
    FormatFlag("token");
  }

 protected:
  int Execute() override {
    const auto& args = flags_.Args();
    if (args.size() > 1) return Fail(env_, "This command takes up to one argument");
    std::string secret;
    if (args.size() == 1) {
      // A file or stdin only: a secret typed on the command line would land in shell history.
      if (args[0].empty()) {
        return Fail(env_,
                    "Error reading provided token: Failed to load data: must specify a file "
                    "path or '-' for stdin");
      }
      auto data = LoadDataSource(args[0] == "-" ? "-" : "@" + args[0], *env_.in);
      if (!data.ok()) return Fail(env_, "Error reading provided token: " + data.status().message());
      secret = TrimSpace(*data);
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    std::string body;
    if (!secret.empty()) body = Json{{"BootstrapSecret", secret}}.dump();
    auto res = client->Put("/v1/acl/bootstrap", {}, body);
    if (!res.ok()) return Fail(env_, "Failed ACL bootstrapping: " + res.status().message());
    Json token;
    if (!Decode(*res, &token)) return 1;
    return Print(FormatToken(token, format, false));
  }

 private:
  static std::string TrimSpace(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
  }
};

// ---------------------------------------------------------------------------------------------
// policy

constexpr char kRulesUsage[] =
    "The policy rules. May be prefixed with '@' to indicate that the value is a file path to "
    "load the rules from. '-' may also be given to indicate that the rules are available on "
    "stdin";
constexpr char kValidDcUsage[] =
    "Datacenter that the policy should be valid within. This flag may be specified multiple "
    "times";

class PolicyCreateCommand : public AclCommand {
 public:
  explicit PolicyCreateCommand(Environment& env)
      : AclCommand(
            env, "Create an ACL policy",
            "Usage: gangway acl policy create -name NAME [options]\n\n"
            "  The -rules value may be given directly, loaded from a file by prefixing\n"
            "  the path with '@', or read from stdin with '-'.\n\n"
            "  Create a new policy:\n\n"
            "      $ gangway acl policy create -name \"new-policy\" \\\n"
            "                                  -description \"This is an example policy\" \\\n"
            "                                  -valid-datacenter \"dc1\" \\\n"
            "                                  -valid-datacenter \"dc2\" \\\n"
            "                                  -rules @rules.hcl") {
    flags_.String("name", &name_, "string", "The new policy's name. This flag is required.");
    flags_.String("description", &description_, "string", "A description of the policy");
    flags_.StringList("valid-datacenter", &datacenters_, "string", kValidDcUsage);
    flags_.String("rules", &rules_, "string", kRulesUsage);
    MetaFlag("policy");
    FormatFlag("policy");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (name_.empty()) {
      *env_.err << "Missing require '-name' flag\n";
      return Fail(env_, Help());
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto rules = LoadDataSource(rules_, *env_.in);
    if (!rules.ok()) return Fail(env_, "Error loading rules: " + rules.status().message());
    auto client = Client();
    if (!client.ok()) return 1;
    Json policy = {{"Name", name_}, {"Description", description_}, {"Rules", *rules}};
    if (!datacenters_.empty()) policy["Datacenters"] = datacenters_;
    auto res = client->Put("/v1/acl/policy", {}, GoMarshal(AsGoStruct(policy, AclStruct::kPolicy)));
    if (!res.ok()) return Fail(env_, "Failed to create new policy: " + res.status().message());
    Json created;
    if (!Decode(*res, &created)) return 1;
    return Print(FormatPolicy(created, format, meta_));
  }

 private:
  std::string name_, description_, rules_;
  std::vector<std::string> datacenters_;
};

class PolicyListCommand : public AclCommand {
 public:
  explicit PolicyListCommand(Environment& env)
      : AclCommand(env, "Lists ACL policies",
                   "Usage: gangway acl policy list [options]\n\n"
                   "  Lists all the ACL policies.\n\n"
                   "      $ gangway acl policy list") {
    MetaFlag("policy");
    FormatFlag("policies");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    auto list = client->GetJson("/v1/acl/policies");
    if (!list.ok()) {
      return Fail(env_, "Failed to retrieve the policy list: " + list.status().message());
    }
    return Print(FormatPolicyList(*list, format, meta_));
  }
};

// -id (a unique prefix) or -name to a policy ID, printing Consul's errors.
class PolicyTarget {
 public:
  void Register(FlagSet* flags, const char* verb) {
    flags->String("id", &id_, "string",
                  std::string("The ID of the policy to ") + verb +
                      ". It may be specified as a unique ID prefix but will error if the "
                      "prefix matches multiple policy IDs");
    flags->String("name", &name_, "string", std::string("The name of the policy to ") + verb + ".");
  }
  bool Given() const { return !id_.empty() || !name_.empty(); }
  const std::string& id_flag() const { return id_; }

  // The policy's ID; when found by name, `by_name` receives the policy itself.
  Result<std::string> Resolve(const ApiClient& client, Json* by_name = nullptr) const {
    if (!id_.empty()) return PolicyID(client, id_);
    auto p = PolicyByName(client, name_);
    if (!p.ok()) return p.status();
    if (by_name != nullptr) *by_name = *p;
    return JsonString(*p, "ID");
  }

 private:
  std::string id_, name_;
};

class PolicyReadCommand : public AclCommand {
 public:
  explicit PolicyReadCommand(Environment& env)
      : AclCommand(env, "Read an ACL policy",
                   "Usage: gangway acl policy read [options] -id POLICY\n\n"
                   "  Prints the details of a single policy, by ID (or a unique ID prefix)\n"
                   "  or by name.\n\n"
                   "      $ gangway acl policy read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba\n"
                   "      $ gangway acl policy read -name my-policy") {
    target_.Register(&flags_, "read");
    MetaFlag("policy");
    FormatFlag("policy");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    if (!target_.Given()) return Fail(env_, "Must specify either the -id or -name parameters");
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    Json policy;
    auto id = target_.Resolve(*client, &policy);
    if (!id.ok()) return Fail(env_, "Error determining policy ID: " + id.status().message());
    if (!target_.id_flag().empty()) {
      auto p = client->GetJson("/v1/acl/policy/" + Seg(*id));
      if (!p.ok())
        return Fail(env_, "Error reading policy " + Q(*id) + ": " + p.status().message());
      policy = *p;
    }
    return Print(FormatPolicy(policy, format, meta_));
  }

 private:
  PolicyTarget target_;
};

class PolicyUpdateCommand : public AclCommand {
 public:
  explicit PolicyUpdateCommand(Environment& env)
      : AclCommand(env, "Update an ACL policy",
                   "Usage: gangway acl policy update [options]\n\n"
                   "  Updates a policy. By default the flags given are merged into the policy's\n"
                   "  current state, so only what changes needs to be given; -no-merge replaces\n"
                   "  every field instead.\n\n"
                   "  Rename the policy:\n\n"
                   "      $ gangway acl policy update -id abcd -name \"better-name\"\n\n"
                   "  Replace the rules:\n\n"
                   "      $ gangway acl policy update -name my-policy -rules @rules.hcl") {
    flags_.String("id", &id_, "string",
                  "The ID of the policy to update. It may be specified as a unique ID prefix "
                  "but will error if the prefix matches multiple policy IDs");
    flags_.String("name", &name_, "string",
                  "The policy's name: the new name with -id, else the policy to update.");
    flags_.String("description", &description_, "string", "A description of the policy");
    flags_.StringList("valid-datacenter", &datacenters_, "string", kValidDcUsage);
    flags_.String("rules", &rules_, "string", kRulesUsage);
    flags_.Bool("no-merge", &no_merge_,
                "Do not merge the current policy information with what is provided to the "
                "command. Instead overwrite all fields with the exception of the policy ID "
                "which is immutable.");
    MetaFlag("policy");
    FormatFlag("policy");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (id_.empty() && name_.empty()) {
      return Fail(env_, "Must specify either the -id or -name parameters");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto rules = LoadDataSource(rules_, *env_.in);
    if (!rules.ok()) return Fail(env_, "Error loading rules: " + rules.status().message());
    auto client = Client();
    if (!client.ok()) return 1;
    Json current;
    Result<std::string> id = !id_.empty() ? PolicyID(*client, id_) : [&]() -> Result<std::string> {
      auto p = PolicyByName(*client, name_);
      if (!p.ok()) return p.status();
      current = *p;
      return JsonString(*p, "ID");
    }();
    if (!id.ok()) return Fail(env_, "Error determining policy ID: " + id.status().message());

    Json updated;
    if (no_merge_) {
      updated = {{"ID", *id}, {"Name", name_}, {"Description", description_}, {"Rules", *rules}};
      if (!datacenters_.empty()) updated["Datacenters"] = datacenters_;
    } else {
      if (current.is_null()) {
        auto p = client->GetJson("/v1/acl/policy/" + Seg(*id));
        if (!p.ok()) {
          return Fail(env_, "Error reading policy " + Q(*id) + ": " + p.status().message());
        }
        current = *p;
      }
      updated = current;
      updated["ID"] = *id;
      if (flags_.IsSet("name")) updated["Name"] = name_;
      if (flags_.IsSet("description")) updated["Description"] = description_;
      if (flags_.IsSet("rules")) updated["Rules"] = *rules;
      if (!datacenters_.empty()) updated["Datacenters"] = datacenters_;
    }
    auto res = client->Put("/v1/acl/policy/" + Seg(*id), {},
                           GoMarshal(AsGoStruct(updated, AclStruct::kPolicy)));
    if (!res.ok()) {
      return Fail(env_, "Error updating policy " + Q(*id) + ": " + res.status().message());
    }
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatPolicy(answer, format, meta_));
  }

 private:
  std::string id_, name_, description_, rules_;
  std::vector<std::string> datacenters_;
  bool no_merge_ = false;
};

class PolicyDeleteCommand : public AclCommand {
 public:
  explicit PolicyDeleteCommand(Environment& env)
      : AclCommand(env, "Delete an ACL policy",
                   "Usage: gangway acl policy delete [options] -id POLICY\n\n"
                   "  Deletes an ACL policy by its ID (or a unique ID prefix) or name.\n\n"
                   "      $ gangway acl policy delete -id b6b85\n"
                   "      $ gangway acl policy delete -name my-policy") {
    target_.Register(&flags_, "delete");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (!target_.Given()) return Fail(env_, "Must specify either the -id or -name parameters");
    auto client = Client();
    if (!client.ok()) return 1;
    auto id = target_.Resolve(*client);
    if (!id.ok()) return Fail(env_, "Error determining policy ID: " + id.status().message());
    auto res = client->Delete("/v1/acl/policy/" + Seg(*id));
    if (!res.ok()) {
      return Fail(env_, "Error deleting policy " + Q(*id) + ": " + res.status().message());
    }
    *env_.out << "Policy " << Q(*id) << " deleted successfully\n";
    return 0;
  }

 private:
  PolicyTarget target_;
};

// ---------------------------------------------------------------------------------------------
// token

constexpr char kServiceIdentityUsage[] =
    "Name of a service identity to use for this token. May be specified multiple times. Format "
    "is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...";
constexpr char kNodeIdentityUsage[] =
    "Name of a node identity to use for this token. May be specified multiple times. Format is "
    "NODENAME:DATACENTER";

// -accessor-id, or the deprecated -id with Consul's warning.
class AccessorFlag {
 public:
  void Register(FlagSet* flags, const char* verb) {
    flags->String("accessor-id", &accessor_, "string",
                  std::string("The Accessor ID of the token to ") + verb +
                      ". It may be specified as a unique ID prefix but will error if the "
                      "prefix matches multiple token Accessor IDs. The special value of "
                      "'anonymous' may be provided instead of the anonymous token's "
                      "accessor ID");
    flags->String("id", &id_, "string", "DEPRECATED. Use -accessor-id instead.");
  }
  // The value given, "" when neither flag was.
  std::string Get(Environment& env) const {
    if (!accessor_.empty()) return accessor_;
    if (!id_.empty())
      *env.err << "Use the -accessor-id parameter to specify token by Accessor ID\n";
    return id_;
  }

 private:
  std::string accessor_, id_;
};

class TokenCreateCommand : public AclCommand {
 public:
  explicit TokenCreateCommand(Environment& env)
      : AclCommand(env, "Create an ACL token",
                   "Usage: gangway acl token create [options]\n\n"
                   "  Policies may be linked by -policy-id or -policy-name, roles by -role-id\n"
                   "  or -role-name; an ID may be a unique prefix of the UUID.\n\n"
                   "  Create a new token:\n\n"
                   "      $ gangway acl token create -description \"Replication token\" \\\n"
                   "                                 -policy-id b52fc3de-5 \\\n"
                   "                                 -policy-name \"acl-replication\" \\\n"
                   "                                 -role-id c630d4ef-6 \\\n"
                   "                                 -role-name \"db-updater\" \\\n"
                   "                                 -service-identity \"web\" \\\n"
                   "                                 -service-identity \"db:east,west\"") {
    flags_.String("accessor", &accessor_, "string",
                  "Create the token with this Accessor ID. It must be a UUID. If not specified "
                  "one will be auto-generated");
    flags_.String("secret", &secret_, "string",
                  "Create the token with this Secret ID. It must be a UUID. If not specified one "
                  "will be auto-generated");
    flags_.String("description", &description_, "string", "A description of the token");
    flags_.Bool("local", &local_, "Create this as a datacenter local token");
    flags_.StringList("policy-id", &policy_ids_, "string",
                      "ID of a policy to use for this token. May be specified multiple times");
    flags_.StringList("policy-name", &policy_names_, "string",
                      "Name of a policy to use for this token. May be specified multiple times");
    flags_.StringList("role-id", &role_ids_, "string",
                      "ID of a role to use for this token. May be specified multiple times");
    flags_.StringList("role-name", &role_names_, "string",
                      "Name of a role to use for this token. May be specified multiple times");
    flags_.StringList("service-identity", &service_identities_, "string", kServiceIdentityUsage);
    flags_.StringList("node-identity", &node_identities_, "string", kNodeIdentityUsage);
    flags_.Custom(
        "expires-ttl", false,
        [this](std::string_view v) -> Status {
          auto d = ParseDuration(v);
          if (!d.ok()) return d.status();
          ttl_ = *d;
          return Status::Ok();
        },
        "duration", "Duration of time this token should be valid for");
    MetaFlag("token");
    FormatFlag("token");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (policy_ids_.empty() && policy_names_.empty() && role_ids_.empty() && role_names_.empty() &&
        service_identities_.empty() && node_identities_.empty()) {
      return Fail(env_,
                  "Cannot create a token without specifying -policy-name, -policy-id, "
                  "-role-name, -role-id, -service-identity, or -node-identity at least once");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto services = ParseServiceIdentities(service_identities_);
    if (!services.ok()) return Fail(env_, services.status().message());
    auto nodes = ParseNodeIdentities(node_identities_);
    if (!nodes.ok()) return Fail(env_, nodes.status().message());
    auto client = Client();
    if (!client.ok()) return 1;
    Json token = {{"AccessorID", accessor_},        {"SecretID", secret_},
                  {"Description", description_},    {"Local", local_},
                  {"ServiceIdentities", *services}, {"NodeIdentities", *nodes}};
    if (ttl_.count() > 0) token["ExpirationTTL"] = static_cast<int64_t>(ttl_.count());
    Json policies = Json::array(), roles = Json::array();
    if (Status st = AppendLinks(*client, policy_names_, policy_ids_, "policy", &policies);
        !st.ok()) {
      return Fail(env_, st.message());
    }
    if (Status st = AppendLinks(*client, role_names_, role_ids_, "role", &roles); !st.ok()) {
      return Fail(env_, st.message());
    }
    token["Policies"] = policies;
    token["Roles"] = roles;
    auto res = client->Put("/v1/acl/token", {}, GoMarshal(AsGoStruct(token, AclStruct::kToken)));
    if (!res.ok()) return Fail(env_, "Failed to create new token: " + res.status().message());
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatToken(answer, format, meta_));
  }

 private:
  std::string accessor_, secret_, description_;
  bool local_ = false;
  std::vector<std::string> policy_ids_, policy_names_, role_ids_, role_names_;
  std::vector<std::string> service_identities_, node_identities_;
  Duration ttl_{0};
};

class TokenListCommand : public AclCommand {
 public:
  explicit TokenListCommand(Environment& env)
      : AclCommand(env, "List ACL tokens",
                   "Usage: gangway acl token list [options]\n\n"
                   "  Lists all the ACL tokens.\n\n"
                   "      $ gangway acl token list") {
    MetaFlag("token");
    FormatFlag("tokens");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    auto list = client->GetJson("/v1/acl/tokens");
    if (!list.ok()) {
      return Fail(env_, "Failed to retrieve the token list: " + list.status().message());
    }
    return Print(FormatTokenList(*list, format, meta_));
  }
};

class TokenReadCommand : public AclCommand {
 public:
  explicit TokenReadCommand(Environment& env)
      : AclCommand(env, "Read an ACL token",
                   "Usage: gangway acl token read [options] -accessor-id TOKENID\n\n"
                   "  Prints the details of a single token.\n\n"
                   "  Using a partial ID:\n\n"
                   "      $ gangway acl token read -accessor-id 4be56c77-82\n\n"
                   "  The token the request is made with:\n\n"
                   "      $ gangway acl token read -self") {
    accessor_.Register(&flags_, "read");
    flags_.Bool("self", &self_,
                "Indicates that the current HTTP token should be read by secret ID instead of "
                "expecting a -accessor-id option");
    flags_.Bool("expanded", &expanded_,
                "Indicates that the contents of the policies and roles affecting the token "
                "should also be shown.");
    MetaFlag("token");
    FormatFlag("token");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    const std::string accessor = accessor_.Get(env_);
    if (accessor.empty() && !self_) return Fail(env_, "Must specify the -accessor-id parameter");
    if (self_ && expanded_) {
      return Fail(env_,
                  "Cannot use both -expanded and -self. Instead, use -expanded and "
                  "-accessor-id=<accessor id>.");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    if (self_) {
      auto t = client->GetJson("/v1/acl/token/self");
      if (!t.ok()) return Fail(env_, "Error reading token: " + t.status().message());
      return Print(FormatToken(*t, format, meta_));
    }
    auto id = TokenAccessor(*client, accessor);
    if (!id.ok()) return Fail(env_, "Error determining token ID: " + id.status().message());
    Params params;
    if (expanded_) params.emplace_back("expanded", "");
    auto t = client->GetJson("/v1/acl/token/" + Seg(*id), params);
    if (!t.ok()) return Fail(env_, "Error reading token " + Q(*id) + ": " + t.status().message());
    return Print(expanded_ ? FormatTokenExpanded(*t, format, meta_)
                           : FormatToken(*t, format, meta_));
  }

 private:
  AccessorFlag accessor_;
  bool self_ = false;
  bool expanded_ = false;
};

class TokenUpdateCommand : public AclCommand {
 public:
  explicit TokenUpdateCommand(Environment& env)
      : AclCommand(env, "Update an ACL token",
                   "Usage: gangway acl token update [options]\n\n"
                   "  Updates a token. Whether the token is local cannot be changed.\n\n"
                   "  -policy-id/-policy-name replace the token's policies, -role-id/-role-name\n"
                   "  its roles, -service-identity and -node-identity its identities; the\n"
                   "  -append-* forms add to what the token has. What no flag names is kept.\n\n"
                   "  Update the description and add a policy:\n\n"
                   "      $ gangway acl token update -accessor-id abcd \\\n"
                   "                                 -description \"replication\" \\\n"
                   "                                 -append-policy-name \"token-replication\"") {
    accessor_.Register(&flags_, "update");
    flags_.String("description", &description_, "string", "A description of the token");
    flags_.StringList("policy-id", &policy_ids_, "string",
                      "ID of a policy to use for this token. Overwrites existing policies. May "
                      "be specified multiple times");
    flags_.StringList("append-policy-id", &append_policy_ids_, "string",
                      "ID of a policy to add to this token. The token retains existing "
                      "policies. May be specified multiple times");
    flags_.StringList("policy-name", &policy_names_, "string",
                      "Name of a policy to use for this token. Overwrites existing policies. "
                      "May be specified multiple times");
    flags_.StringList("append-policy-name", &append_policy_names_, "string",
                      "Name of a policy to add to this token. The token retains existing "
                      "policies. May be specified multiple times");
    flags_.StringList("role-id", &role_ids_, "string",
                      "ID of a role to use for this token. Overwrites existing roles. May be "
                      "specified multiple times");
    flags_.StringList("append-role-id", &append_role_ids_, "string",
                      "ID of a role to add to this token. The token retains existing roles. "
                      "May be specified multiple times");
    flags_.StringList("role-name", &role_names_, "string",
                      "Name of a role to use for this token. Overwrites existing roles. May be "
                      "specified multiple times");
    flags_.StringList("append-role-name", &append_role_names_, "string",
                      "Name of a role to add to this token. The token retains existing roles. "
                      "May be specified multiple times");
    flags_.StringList(
        "service-identity", &service_identities_, "string",
        std::string(kServiceIdentityUsage) + ". Overwrites existing service identities");
    flags_.StringList("append-service-identity", &append_service_identities_, "string",
                      "Name of a service identity to add to this token. The token retains "
                      "existing service identities. May be specified multiple times. Format is "
                      "the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...");
    flags_.StringList("node-identity", &node_identities_, "string",
                      std::string(kNodeIdentityUsage) + ". Overwrites existing node identities");
    flags_.StringList("append-node-identity", &append_node_identities_, "string",
                      "Name of a node identity to add to this token. The token retains "
                      "existing node identities. May be specified multiple times. Format is "
                      "NODENAME:DATACENTER");
    MetaFlag("token");
    FormatFlag("token");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    const std::string accessor = accessor_.Get(env_);
    if (accessor.empty()) {
      return Fail(env_, "Cannot update a token without specifying the -accessor-id parameter");
    }
    if (!service_identities_.empty() && !append_service_identities_.empty()) {
      return Fail(env_,
                  "Cannot combine the use of service-identity flag with append-service-identity. "
                  "To set or overwrite existing service identities, use -service-identity. To "
                  "append to existing service identities, use -append-service-identity.");
    }
    if (!node_identities_.empty() && !append_node_identities_.empty()) {
      return Fail(env_,
                  "Cannot combine the use of node-identity flag with append-node-identity. To "
                  "set or overwrite existing node identities, use -node-identity. To append to "
                  "existing node identities, use -append-node-identity.");
    }
    const bool set_policies = !policy_ids_.empty() || !policy_names_.empty();
    if (set_policies && (!append_policy_ids_.empty() || !append_policy_names_.empty())) {
      return Fail(env_,
                  "Cannot combine the use of policy-id/policy-name flags with append- variants. "
                  "To set or overwrite existing policies, use -policy-id or -policy-name. To "
                  "append to existing policies, use -append-policy-id or -append-policy-name.");
    }
    const bool set_roles = !role_ids_.empty() || !role_names_.empty();
    if (set_roles && (!append_role_ids_.empty() || !append_role_names_.empty())) {
      return Fail(env_,
                  "Cannot combine the use of role-id/role-name flags with append- variants. To "
                  "set or overwrite existing roles, use -role-id or -role-name. To append to "
                  "existing roles, use -append-role-id or -append-role-name.");
    }
    const bool set_services = !service_identities_.empty();
    auto services =
        ParseServiceIdentities(set_services ? service_identities_ : append_service_identities_);
    if (!services.ok()) return Fail(env_, services.status().message());
    const bool set_nodes = !node_identities_.empty();
    auto nodes = ParseNodeIdentities(set_nodes ? node_identities_ : append_node_identities_);
    if (!nodes.ok()) return Fail(env_, nodes.status().message());
    AclFormat format;
    if (!Format(&format)) return 1;

    auto client = Client();
    if (!client.ok()) return 1;
    auto id = TokenAccessor(*client, accessor);
    if (!id.ok()) return Fail(env_, "Error determining token ID: " + id.status().message());
    auto current = client->GetJson("/v1/acl/token/" + Seg(*id));
    if (!current.ok()) {
      return Fail(env_, "Error when retrieving current token: " + current.status().message());
    }
    Json t = *current;
    if (!description_.empty()) t["Description"] = description_;

    Json policies = set_policies ? Json::array() : t.value("Policies", Json::array());
    Status st = set_policies ? AppendLinks(*client, policy_names_, policy_ids_, "policy", &policies)
                             : AppendLinks(*client, append_policy_names_, append_policy_ids_,
                                           "policy", &policies);
    if (!st.ok()) return Fail(env_, st.message());
    t["Policies"] = policies;

    Json roles = set_roles ? Json::array() : t.value("Roles", Json::array());
    st = set_roles ? AppendLinks(*client, role_names_, role_ids_, "role", &roles)
                   : AppendLinks(*client, append_role_names_, append_role_ids_, "role", &roles);
    if (!st.ok()) return Fail(env_, st.message());
    t["Roles"] = roles;

    // Consul's update (1.13+) also clears the identities when neither -service-identity nor
    // -append-service-identity is given (and the node forms likewise), so changing only a
    // description silently drops them. Here, as for policies and roles, what no flag names is
    // kept.
    if (set_services) {
      t["ServiceIdentities"] = *services;
    } else {
      // Appending a service that is there already replaces its datacenters.
      Json have = t.value("ServiceIdentities", Json::array());
      if (!have.is_array()) have = Json::array();
      for (const auto& s : *services) {
        bool replaced = false;
        for (auto& h : have) {
          if (JsonString(h, "ServiceName") == JsonString(s, "ServiceName")) {
            h = s;
            replaced = true;
            break;
          }
        }
        if (!replaced) have.push_back(s);
      }
      t["ServiceIdentities"] = have;
    }
    if (set_nodes) {
      t["NodeIdentities"] = *nodes;
    } else {
      Json have = t.value("NodeIdentities", Json::array());
      if (!have.is_array()) have = Json::array();
      for (const auto& n : *nodes) {
        bool found = false;
        for (const auto& h : have) {
          found = found || (JsonString(h, "NodeName") == JsonString(n, "NodeName") &&
                            JsonString(h, "Datacenter") == JsonString(n, "Datacenter"));
        }
        if (!found) have.push_back(n);
      }
      t["NodeIdentities"] = have;
    }

    auto res =
        client->Put("/v1/acl/token/" + Seg(*id), {}, GoMarshal(AsGoStruct(t, AclStruct::kToken)));
    if (!res.ok()) {
      return Fail(env_, "Failed to update token " + *id + ": " + res.status().message());
    }
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatToken(answer, format, meta_));
  }

 private:
  AccessorFlag accessor_;
  std::string description_;
  std::vector<std::string> policy_ids_, append_policy_ids_, policy_names_, append_policy_names_;
  std::vector<std::string> role_ids_, append_role_ids_, role_names_, append_role_names_;
  std::vector<std::string> service_identities_, append_service_identities_;
  std::vector<std::string> node_identities_, append_node_identities_;
};

class TokenCloneCommand : public AclCommand {
 public:
  explicit TokenCloneCommand(Environment& env)
      : AclCommand(
            env, "Clone an ACL token",
            "Usage: gangway acl token clone [options]\n\n"
            "  Clones a token: a new token with the same policies, roles and\n"
            "  identities, optionally with another description.\n\n"
            "      $ gangway acl token clone -accessor-id abcd -description \"replication\"") {
    accessor_.Register(&flags_, "clone");
    flags_.String("description", &description_, "string", "A description of the new cloned token");
    FormatFlag("token");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    const std::string accessor = accessor_.Get(env_);
    if (accessor.empty()) {
      return Fail(env_, "Cannot clone a token without specifying the -accessor-id parameter");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    auto id = TokenAccessor(*client, accessor);
    if (!id.ok()) {
      return Fail(env_, "Error determining token Accessor ID: " + id.status().message());
    }
    auto res = client->Put("/v1/acl/token/" + Seg(*id) + "/clone", {},
                           GoMarshal(Json{{"Description", description_}}));
    if (!res.ok()) return Fail(env_, "Error cloning token: " + res.status().message());
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatToken(answer, format, false));
  }

 private:
  AccessorFlag accessor_;
  std::string description_;
};

class TokenDeleteCommand : public AclCommand {
 public:
  explicit TokenDeleteCommand(Environment& env)
      : AclCommand(env, "Delete an ACL token",
                   "Usage: gangway acl token delete [options] -accessor-id TOKEN\n\n"
                   "  Deletes an ACL token by its Accessor ID or a unique prefix of it.\n\n"
                   "      $ gangway acl token delete -accessor-id b6b85") {
    accessor_.Register(&flags_, "delete");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    const std::string accessor = accessor_.Get(env_);
    if (accessor.empty()) return Fail(env_, "Must specify the -accessor-id parameter");
    auto client = Client();
    if (!client.ok()) return 1;
    auto id = TokenAccessor(*client, accessor);
    if (!id.ok()) return Fail(env_, "Error determining token ID: " + id.status().message());
    auto res = client->Delete("/v1/acl/token/" + Seg(*id));
    if (!res.ok()) {
      return Fail(env_, "Error deleting token " + Q(*id) + ": " + res.status().message());
    }
    *env_.out << "Token " << Q(*id) << " deleted successfully\n";
    return 0;
  }

 private:
  AccessorFlag accessor_;
};

// ---------------------------------------------------------------------------------------------
// role

// -id (a unique prefix) or -name to a role ID.
class RoleTarget {
 public:
  void Register(FlagSet* flags, const char* verb) {
    flags->String("id", &id_, "string",
                  std::string("The ID of the role to ") + verb +
                      ". It may be specified as a unique ID prefix but will error if the "
                      "prefix matches multiple role IDs");
    flags->String("name", &name_, "string", std::string("The name of the role to ") + verb + ".");
  }
  bool Given() const { return !id_.empty() || !name_.empty(); }
  Result<std::string> Resolve(const ApiClient& client) const {
    return !id_.empty() ? RoleID(client, id_) : RoleIDByName(client, name_);
  }

 private:
  std::string id_, name_;
};

class RoleCreateCommand : public AclCommand {
 public:
  explicit RoleCreateCommand(Environment& env)
      : AclCommand(env, "Create an ACL role",
                   "Usage: gangway acl role create -name NAME [options]\n\n"
                   "  Create a new role:\n\n"
                   "      $ gangway acl role create -name \"new-role\" \\\n"
                   "                                -description \"This is an example role\" \\\n"
                   "                                -policy-id b52fc3de-5 \\\n"
                   "                                -policy-name \"acl-replication\" \\\n"
                   "                                -service-identity \"web\" \\\n"
                   "                                -service-identity \"db:east,west\"") {
    flags_.String("name", &name_, "string", "The new role's name. This flag is required.");
    flags_.String("description", &description_, "string", "A description of the role");
    flags_.StringList("policy-id", &policy_ids_, "string",
                      "ID of a policy to use for this role. May be specified multiple times");
    flags_.StringList("policy-name", &policy_names_, "string",
                      "Name of a policy to use for this role. May be specified multiple times");
    flags_.StringList("service-identity", &service_identities_, "string",
                      "Name of a service identity to use for this role. May be specified "
                      "multiple times. Format is the SERVICENAME or "
                      "SERVICENAME:DATACENTER1,DATACENTER2,...");
    flags_.StringList("node-identity", &node_identities_, "string",
                      "Name of a node identity to use for this role. May be specified multiple "
                      "times. Format is NODENAME:DATACENTER");
    MetaFlag("role");
    FormatFlag("role");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (name_.empty()) return Fail(env_, "Missing required '-name' flag");
    if (policy_ids_.empty() && policy_names_.empty() && service_identities_.empty() &&
        node_identities_.empty()) {
      return Fail(env_,
                  "Cannot create a role without specifying -policy-name, -policy-id, "
                  "-service-identity, or -node-identity at least once");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto services = ParseServiceIdentities(service_identities_);
    if (!services.ok()) return Fail(env_, services.status().message());
    auto nodes = ParseNodeIdentities(node_identities_);
    if (!nodes.ok()) return Fail(env_, nodes.status().message());
    auto client = Client();
    if (!client.ok()) return 1;
    Json role = {{"Name", name_},
                 {"Description", description_},
                 {"ServiceIdentities", *services},
                 {"NodeIdentities", *nodes}};
    Json policies = Json::array();
    if (Status st = AppendLinks(*client, policy_names_, policy_ids_, "policy", &policies);
        !st.ok()) {
      return Fail(env_, st.message());
    }
    role["Policies"] = policies;
    auto res = client->Put("/v1/acl/role", {}, GoMarshal(AsGoStruct(role, AclStruct::kRole)));
    if (!res.ok()) return Fail(env_, "Failed to create new role: " + res.status().message());
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatRole(answer, format, meta_));
  }

 private:
  std::string name_, description_;
  std::vector<std::string> policy_ids_, policy_names_, service_identities_, node_identities_;
};

class RoleListCommand : public AclCommand {
 public:
  explicit RoleListCommand(Environment& env)
      : AclCommand(env, "Lists ACL roles",
                   "Usage: gangway acl role list [options]\n\n"
                   "  Lists all the ACL roles.\n\n"
                   "      $ gangway acl role list") {
    MetaFlag("role");
    FormatFlag("roles");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    auto list = client->GetJson("/v1/acl/roles");
    if (!list.ok()) {
      return Fail(env_, "Failed to retrieve the role list: " + list.status().message());
    }
    return Print(FormatRoleList(*list, format, meta_));
  }
};

class RoleReadCommand : public AclCommand {
 public:
  explicit RoleReadCommand(Environment& env)
      : AclCommand(env, "Read an ACL role",
                   "Usage: gangway acl role read [options] -id ROLEID\n\n"
                   "  Prints the details of a single role, by ID (or a unique ID prefix) or by\n"
                   "  name.\n\n"
                   "      $ gangway acl role read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba\n"
                   "      $ gangway acl role read -name my-role") {
    flags_.String("id", &id_, "string",
                  "The ID of the role to read. It may be specified as a unique ID prefix but "
                  "will error if the prefix matches multiple role IDs");
    flags_.String("name", &name_, "string", "The name of the role to read.");
    MetaFlag("role");
    FormatFlag("role");
    http_.Register(&flags_);
  }

 protected:
  int Execute() override {
    if (id_.empty() && name_.empty()) {
      return Fail(env_, "Must specify either the -id or -name parameters");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto client = Client();
    if (!client.ok()) return 1;
    Result<Json> role = Json();
    if (!id_.empty()) {
      auto id = RoleID(*client, id_);
      if (!id.ok()) return Fail(env_, "Error determining role ID: " + id.status().message());
      role = client->GetJson("/v1/acl/role/" + Seg(*id));
      if (!role.ok()) {
        return Fail(env_, "Error reading role " + Q(*id) + ": " + role.status().message());
      }
    } else {
      role = client->GetJson("/v1/acl/role/name/" + Seg(name_));
      if (!role.ok()) {
        return Fail(env_, "Error reading role " + Q(name_) + ": " + role.status().message());
      }
    }
    return Print(FormatRole(*role, format, meta_));
  }

 private:
  std::string id_, name_;
};

class RoleUpdateCommand : public AclCommand {
 public:
  explicit RoleUpdateCommand(Environment& env)
      : AclCommand(env, "Update an ACL role",
                   "Usage: gangway acl role update [options]\n\n"
                   "  Updates a role. By default the flags given are merged into the role's\n"
                   "  current state (policies and identities are added); -no-merge replaces\n"
                   "  every field instead.\n\n"
                   "  Rename the role:\n\n"
                   "      $ gangway acl role update -id abcd -name \"better-name\"\n\n"
                   "  Add a policy and a service identity:\n\n"
                   "      $ gangway acl role update -id abcd \\\n"
                   "                                -policy-name \"token-replication\" \\\n"
                   "                                -service-identity \"web\"") {
    flags_.String("id", &id_, "string",
                  "The ID of the role to update. It may be specified as a unique ID prefix but "
                  "will error if the prefix matches multiple role IDs");
    flags_.String("name", &name_, "string", "The role name.");
    flags_.String("description", &description_, "string", "A description of the role");
    flags_.StringList("policy-id", &policy_ids_, "string",
                      "ID of a policy to use for this role. May be specified multiple times");
    flags_.StringList("policy-name", &policy_names_, "string",
                      "Name of a policy to use for this role. May be specified multiple times");
    flags_.StringList("service-identity", &service_identities_, "string",
                      "Name of a service identity to use for this role. May be specified "
                      "multiple times. Format is the SERVICENAME or "
                      "SERVICENAME:DATACENTER1,DATACENTER2,...");
    flags_.StringList("node-identity", &node_identities_, "string",
                      "Name of a node identity to use for this role. May be specified multiple "
                      "times. Format is NODENAME:DATACENTER");
    flags_.Bool("no-merge", &no_merge_,
                "Do not merge the current role information with what is provided to the "
                "command. Instead overwrite all fields with the exception of the role ID which "
                "is immutable.");
    MetaFlag("role");
    FormatFlag("role");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (id_.empty()) {
      return Fail(env_, "Cannot update a role without specifying the -id parameter");
    }
    AclFormat format;
    if (!Format(&format)) return 1;
    auto services = ParseServiceIdentities(service_identities_);
    if (!services.ok()) return Fail(env_, services.status().message());
    auto nodes = ParseNodeIdentities(node_identities_);
    if (!nodes.ok()) return Fail(env_, nodes.status().message());
    auto client = Client();
    if (!client.ok()) return 1;
    auto id = RoleID(*client, id_);
    if (!id.ok()) return Fail(env_, "Error determining role ID: " + id.status().message());
    // Read in both modes, so a role that is not there fails before anything is written.
    auto current = client->GetJson("/v1/acl/role/" + Seg(*id));
    if (!current.ok()) {
      return Fail(env_, "Error when retrieving current role: " + current.status().message());
    }
    if (!current->is_object()) return Fail(env_, "Role not found with ID " + Q(*id));

    Json r;
    if (no_merge_) {
      r = {{"ID", *id},
           {"Name", name_},
           {"Description", description_},
           {"ServiceIdentities", *services},
           {"NodeIdentities", *nodes}};
      Json policies = Json::array();
      if (Status st = AppendLinks(*client, policy_names_, policy_ids_, "policy", &policies);
          !st.ok()) {
        return Fail(env_, st.message());
      }
      r["Policies"] = policies;
    } else {
      r = *current;
      if (!name_.empty()) r["Name"] = name_;
      if (!description_.empty()) r["Description"] = description_;
      Json policies = r.value("Policies", Json::array());
      if (!policies.is_array()) policies = Json::array();
      for (const auto& n : policy_names_) {
        if (!HasLink(policies, "Name", n)) policies.push_back({{"Name", n}});
      }
      for (const auto& partial : policy_ids_) {
        auto pid = PolicyID(*client, partial);
        if (!pid.ok()) {
          return Fail(env_, "Error resolving policy ID " + partial + ": " + pid.status().message());
        }
        if (!HasLink(policies, "ID", *pid)) policies.push_back({{"ID", *pid}});
      }
      r["Policies"] = policies;
      Json have = r.value("ServiceIdentities", Json::array());
      if (!have.is_array()) have = Json::array();
      for (const auto& s : *services) {
        bool replaced = false;
        for (auto& h : have) {
          if (JsonString(h, "ServiceName") == JsonString(s, "ServiceName")) {
            h = s;
            replaced = true;
            break;
          }
        }
        if (!replaced) have.push_back(s);
      }
      r["ServiceIdentities"] = have;
      Json nodes_have = r.value("NodeIdentities", Json::array());
      if (!nodes_have.is_array()) nodes_have = Json::array();
      for (const auto& n : *nodes) {
        bool found = false;
        for (const auto& h : nodes_have) {
          found = found || (JsonString(h, "NodeName") == JsonString(n, "NodeName") &&
                            JsonString(h, "Datacenter") == JsonString(n, "Datacenter"));
        }
        if (!found) nodes_have.push_back(n);
      }
      r["NodeIdentities"] = nodes_have;
    }
    auto res =
        client->Put("/v1/acl/role/" + Seg(*id), {}, GoMarshal(AsGoStruct(r, AclStruct::kRole)));
    if (!res.ok()) {
      return Fail(env_, "Error updating role " + Q(*id) + ": " + res.status().message());
    }
    Json answer;
    if (!Decode(*res, &answer)) return 1;
    return Print(FormatRole(answer, format, meta_));
  }

 private:
  std::string id_, name_, description_;
  std::vector<std::string> policy_ids_, policy_names_, service_identities_, node_identities_;
  bool no_merge_ = false;
};

class RoleDeleteCommand : public AclCommand {
 public:
  explicit RoleDeleteCommand(Environment& env)
      : AclCommand(env, "Delete an ACL role",
                   "Usage: gangway acl role delete [options] -id ROLE\n\n"
                   "  Deletes an ACL role by its ID (or a unique ID prefix) or name.\n\n"
                   "      $ gangway acl role delete -id b6b85\n"
                   "      $ gangway acl role delete -name my-role") {
    target_.Register(&flags_, "delete");
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    if (!target_.Given()) return Fail(env_, "Must specify either the -id or -name parameters");
    auto client = Client();
    if (!client.ok()) return 1;
    auto id = target_.Resolve(*client);
    if (!id.ok()) return Fail(env_, "Error determining role ID: " + id.status().message());
    auto res = client->Delete("/v1/acl/role/" + Seg(*id));
    if (!res.ok())
      return Fail(env_, "Error deleting role " + Q(*id) + ": " + res.status().message());
    *env_.out << "Role " << Q(*id) << " deleted successfully\n";
    return 0;
  }

 private:
  RoleTarget target_;
};

// ---------------------------------------------------------------------------------------------
// set-agent-token

// The CLI's token type names and the /v1/agent/token/<path> each is set through.
struct AgentTokenType {
  const char* name;
  const char* path;
};
constexpr AgentTokenType kAgentTokenTypes[] = {
    {"default", "default"},
    {"agent", "agent"},
    {"recovery", "agent_recovery"},
    {"replication", "replication"},
    {"config_file_service_registration", "config_file_service_registration"},
    {"dns", "dns"},
};

class SetAgentTokenCommand : public AclCommand {
 public:
  explicit SetAgentTokenCommand(Environment& env)
      : AclCommand(
            env, "Assign tokens for the Gangway agent's usage",
            "Usage: gangway acl set-agent-token [options] TYPE TOKEN\n\n"
            "  Sets the token of TYPE that the agent uses. Tokens set this way are not\n"
            "  persisted unless acl.enable_token_persistence is on; otherwise they must be\n"
            "  set again after the agent restarts. TOKEN may be '-' (stdin) or @file.\n\n"
            "  Token Types:\n\n"
            "    default       The token the agent uses for internal operations and for\n"
            "                  HTTP and DNS requests that carry no token of their own.\n"
            "                  If not set the agent uses the anonymous token.\n\n"
            "    agent         The token the agent uses for its own operations (node\n"
            "                  registration, anti-entropy). If not set, the default token.\n\n"
            "    recovery      The token that can reach the agent's own API when the\n"
            "                  servers cannot be reached.\n\n"
            "    replication   The token the agent's server uses to replicate ACLs from\n"
            "                  the primary datacenter.\n\n"
            "    config_file_service_registration\n"
            "                  The token for services and checks defined in config files.\n\n"
            "    dns           The token DNS queries are answered with.\n\n"
            "  Example:\n\n"
            "      $ gangway acl set-agent-token default c4d0f8df-3aba-4ab6-a7a0-35b760dc29a1") {
    http_.Register(&flags_, false);
  }

 protected:
  int Execute() override {
    const auto& args = flags_.Args();
    const AgentTokenType* type = nullptr;
    if (!args.empty()) {
      for (const auto& t : kAgentTokenTypes) {
        if (args[0] == t.name) type = &t;
      }
    }
    if (args.empty()) return Fail(env_, "Error! Missing TYPE and TOKEN arguments");
    if (args.size() == 1) {
      return Fail(
          env_, type != nullptr ? "Error! Missing TOKEN argument" : "Error! MISSING TYPE argument");
    }
    if (args.size() > 2) {
      return Fail(env_, "Error! Too many arguments: expected 2 got " + std::to_string(args.size()));
    }
    auto token = LoadDataSource(args[1], *env_.in);
    if (!token.ok()) return Fail(env_, "Error! " + token.status().message());
    if (type == nullptr) return Fail(env_, "Unknown token type");
    auto client = Client();
    if (!client.ok()) return 1;
    auto res = client->Put(std::string("/v1/agent/token/") + type->path, {},
                           Json{{"Token", *token}}.dump());
    if (!res.ok()) {
      return Fail(env_, "Failed to set ACL token " + Q(args[0]) + ": " + res.status().message());
    }
    *env_.out << "ACL token " << Q(args[0]) << " set successfully\n";
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> NewAclCommand(Environment&) {
  return NewParentCommand(
      "Interact with Gangway's ACLs",
      "Usage: gangway acl <subcommand> [options] [args]\n\n"
      "  Subcommands for the ACL system: bootstrapping it, and managing its policies,\n"
      "  roles and tokens. For example:\n\n"
      "  Bootstrap ACLs:\n\n"
      "      $ gangway acl bootstrap\n\n"
      "  Create a policy from a rules file:\n\n"
      "      $ gangway acl policy create -name web -rules @web.hcl\n\n"
      "  Create a token with that policy:\n\n"
      "      $ gangway acl token create -description \"web\" -policy-name web\n\n"
      "  Set the agent's default token:\n\n"
      "      $ gangway acl set-agent-token default <secret>");
}
std::unique_ptr<Command> NewAclPolicyCommand(Environment&) {
  return NewParentCommand("Manage Gangway's ACL policies",
                          "Usage: gangway acl policy <subcommand> [options] [args]\n\n"
                          "  Create, list, read, update and delete ACL policies:\n\n"
                          "      $ gangway acl policy create -name web -rules @web.hcl\n"
                          "      $ gangway acl policy list\n"
                          "      $ gangway acl policy read -name web\n"
                          "      $ gangway acl policy update -name web -description \"web\"\n"
                          "      $ gangway acl policy delete -name web");
}
std::unique_ptr<Command> NewAclTokenCommand(Environment&) {
  return NewParentCommand("Manage Gangway's ACL tokens",
                          "Usage: gangway acl token <subcommand> [options] [args]\n\n"
                          "  Create, list, read, update, clone and delete ACL tokens:\n\n"
                          "      $ gangway acl token create -policy-name web\n"
                          "      $ gangway acl token list\n"
                          "      $ gangway acl token read -accessor-id 986193\n"
                          "      $ gangway acl token read -self\n"
                          "      $ gangway acl token update -accessor-id 986193 "
                          "-description \"web\"\n"
                          "      $ gangway acl token clone -accessor-id 986193\n"
                          "      $ gangway acl token delete -accessor-id 986193");
}
std::unique_ptr<Command> NewAclRoleCommand(Environment&) {
  return NewParentCommand("Manage Gangway's ACL roles",
                          "Usage: gangway acl role <subcommand> [options] [args]\n\n"
                          "  Create, list, read, update and delete ACL roles:\n\n"
                          "      $ gangway acl role create -name web -policy-name web\n"
                          "      $ gangway acl role list\n"
                          "      $ gangway acl role read -name web\n"
                          "      $ gangway acl role update -id 8a3b -description \"web\"\n"
                          "      $ gangway acl role delete -name web");
}

std::unique_ptr<Command> NewAclBootstrapCommand(Environment& env) {
  return std::make_unique<BootstrapCommand>(env);
}
std::unique_ptr<Command> NewAclPolicyCreateCommand(Environment& env) {
  return std::make_unique<PolicyCreateCommand>(env);
}
std::unique_ptr<Command> NewAclPolicyDeleteCommand(Environment& env) {
  return std::make_unique<PolicyDeleteCommand>(env);
}
std::unique_ptr<Command> NewAclPolicyListCommand(Environment& env) {
  return std::make_unique<PolicyListCommand>(env);
}
std::unique_ptr<Command> NewAclPolicyReadCommand(Environment& env) {
  return std::make_unique<PolicyReadCommand>(env);
}
std::unique_ptr<Command> NewAclPolicyUpdateCommand(Environment& env) {
  return std::make_unique<PolicyUpdateCommand>(env);
}
std::unique_ptr<Command> NewAclRoleCreateCommand(Environment& env) {
  return std::make_unique<RoleCreateCommand>(env);
}
std::unique_ptr<Command> NewAclRoleDeleteCommand(Environment& env) {
  return std::make_unique<RoleDeleteCommand>(env);
}
std::unique_ptr<Command> NewAclRoleListCommand(Environment& env) {
  return std::make_unique<RoleListCommand>(env);
}
std::unique_ptr<Command> NewAclRoleReadCommand(Environment& env) {
  return std::make_unique<RoleReadCommand>(env);
}
std::unique_ptr<Command> NewAclRoleUpdateCommand(Environment& env) {
  return std::make_unique<RoleUpdateCommand>(env);
}
std::unique_ptr<Command> NewAclSetAgentTokenCommand(Environment& env) {
  return std::make_unique<SetAgentTokenCommand>(env);
}
std::unique_ptr<Command> NewAclTokenCloneCommand(Environment& env) {
  return std::make_unique<TokenCloneCommand>(env);
}
std::unique_ptr<Command> NewAclTokenCreateCommand(Environment& env) {
  return std::make_unique<TokenCreateCommand>(env);
}
std::unique_ptr<Command> NewAclTokenDeleteCommand(Environment& env) {
  return std::make_unique<TokenDeleteCommand>(env);
}
std::unique_ptr<Command> NewAclTokenListCommand(Environment& env) {
  return std::make_unique<TokenListCommand>(env);
}
std::unique_ptr<Command> NewAclTokenReadCommand(Environment& env) {
  return std::make_unique<TokenReadCommand>(env);
}
std::unique_ptr<Command> NewAclTokenUpdateCommand(Environment& env) {
  return std::make_unique<TokenUpdateCommand>(env);
}

}  // namespace gangway::cli
