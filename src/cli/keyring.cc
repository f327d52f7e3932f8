// gangway keyring: lists and rotates the gossip encryption keys of every member
// (/v1/operator/keyring). Output and exit codes follow `consul keyring`.
#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"

namespace gangway::cli {

namespace {

class KeyringCommand : public Command {
 public:
  explicit KeyringCommand(Environment& env) : env_(env) {
    flags_.String("install", &install_, "key",
                  "Install a new encryption key. This will broadcast the new key to all members "
                  "in the cluster.");
    flags_.String("use", &use_, "key",
                  "Change the primary encryption key, which is used to encrypt messages. The key "
                  "must already be installed before this operation can succeed.");
    flags_.String("remove", &remove_, "key",
                  "Remove the given key from the cluster. This operation may only be performed "
                  "on keys which are not currently the primary key.");
    flags_.Bool("list", &list_, "List all keys currently in use within the cluster.");
    flags_.Bool("list-primary", &list_primary_,
                "List all primary keys currently in use within the cluster.");
    flags_.Int("relay-factor", &relay_, "int",
               "Setting this to a non-zero value will cause nodes to relay their response to the "
               "operation through this many randomly-chosen other nodes in the cluster. The "
               "maximum allowed value is 5.");
    flags_.Bool("local-only", &local_only_,
                "Setting this to true will force the keyring query to only hit local servers "
                "(no WAN traffic). This flag can only be set for list queries.");
    http_.Register(&flags_, false);
  }

  std::string Synopsis() const override { return "Manages gossip layer encryption keys"; }
  std::string Help() const override {
    return "Usage: gangway keyring [options]\n\n"
           "  Manages encryption keys used for gossip messages. Gossip encryption is\n"
           "  optional. When enabled, this command may be used to examine active encryption\n"
           "  keys in the cluster, add new keys, and remove old ones. When combined, this\n"
           "  functionality provides the ability to perform key rotation cluster-wide,\n"
           "  without disrupting the cluster.\n\n"
           "  On a server, every operation affects both the WAN and the LAN keyrings in\n"
           "  lock-step; on a client agent, the LAN keyring only.\n\n"
           "  All variations of the keyring command return 0 if all nodes reply and there\n"
           "  are no errors. If any node fails to reply or reports failure, the exit code\n"
           "  will be 1.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    int actions = (list_ ? 1 : 0) + (list_primary_ ? 1 : 0);
    for (const std::string* k : {&install_, &use_, &remove_}) actions += k->empty() ? 0 : 1;
    if (actions == 0) {
      *env_.err << Help() << "\n";
      return 1;
    }
    if (actions > 1) {
      *env_.err << "Only a single action is allowed\n";
      return 1;
    }
    if (relay_ < 0 || relay_ > 5) {
      *env_.err << "Error parsing relay factor: Relay factor must be in range: [0, 5]\n";
      return 1;
    }
    if (local_only_ && !list_) {
      *env_.err << "Error validating local-only: local-only can only be set for list requests\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    Params params;
    if (relay_ != 0) params.emplace_back("relay-factor", std::to_string(relay_));

    if (list_ || list_primary_) {
      *env_.out << (list_ ? "==> Gathering installed encryption keys...\n"
                          : "==> Gathering installed primary encryption keys...\n");
      if (local_only_) params.emplace_back("local-only", "true");
      auto list = client->GetJson("/v1/operator/keyring", params);
      if (!list.ok()) {
        *env_.err << "error: " << list.status().message() << "\n";
        return 1;
      }
      if (list->is_array()) {
        for (const Json& pool : *list) {
          *env_.out << FormatPool(pool, list_ ? "Keys" : "PrimaryKeys");
        }
      }
      return 0;
    }

    const char* method = "POST";
    const std::string* key = &install_;
    const char* banner = "==> Installing new gossip encryption key...\n";
    if (!use_.empty()) {
      method = "PUT";
      key = &use_;
      banner = "==> Changing primary gossip encryption key...\n";
    } else if (!remove_.empty()) {
      method = "DELETE";
      key = &remove_;
      banner = "==> Removing gossip encryption key...\n";
    }
    *env_.out << banner;
    Json body = Json::object();
    body["Key"] = *key;
    auto r = client->Send(method, "/v1/operator/keyring", params, body.dump());
    if (r.ok() && (r->status < 200 || r->status > 299)) r = UnexpectedResponse(*r);
    if (!r.ok()) {
      *env_.err << "error: " << r.status().message() << "\n";
      return 1;
    }
    return 0;
  }

 private:
  // Consul's formatResponse: a blank line, the pool's name, the nodes' messages, then one line
  // per key with how many of the pool's nodes hold it.
  static std::string FormatPool(const Json& pool, const char* keys_field) {
    std::string name = JsonBool(pool, "WAN") ? "WAN" : JsonString(pool, "Datacenter") + " (LAN)";
    std::string segment = JsonString(pool, "Segment");
    std::string partition = JsonString(pool, "Partition");
    if (!segment.empty()) {
      name += " [" + segment + "]";
    } else if (!partition.empty() && partition != "default") {
      name += " [partition: " + partition + "]";
    }
    std::string out = "\n" + name + ":\n";
    for (const auto& [node, msg] : JsonObject(pool, "Messages").items()) {
      out += "  ===> " + node + ": " + (msg.is_string() ? msg.get<std::string>() : msg.dump()) +
             "\n";
    }
    const int64_t total = JsonInt(pool, "NumNodes");
    for (const auto& [key, num] : JsonObject(pool, keys_field).items()) {
      out += "  " + key + " [" + (num.is_number() ? num.dump() : "0") + "/" +
             std::to_string(total) + "]\n";
    }
    return out;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string install_, use_, remove_;
  bool list_ = false;
  bool list_primary_ = false;
  int64_t relay_ = 0;
  bool local_only_ = false;
};

}  // namespace

std::unique_ptr<Command> NewKeyringCommand(Environment& env) {
  return std::make_unique<KeyringCommand>(env);
}

}  // namespace gangway::cli
