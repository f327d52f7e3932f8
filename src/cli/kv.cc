// gangway kv get|put|delete: the key/value store through /v1/kv/<key>, with Consul's messages
// ("Success! Data written to: k", "Error! No key exists at: k") and exit codes.
#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"
#include "cli/table.h"
#include "core/base64.h"

namespace gangway::cli {

namespace {

std::string KvPath(const std::string& key) { return "/v1/kv/" + EscapePath(key); }

std::string StripLeadingSlash(std::string key) {
  if (!key.empty() && key[0] == '/') key.erase(0, 1);
  return key;
}

int ConnectError(Environment& env, const Status& st) {
  *env.err << "Error connecting to Gangway agent: " << st.message() << "\n";
  return 1;
}

// One entry of a /v1/kv answer, with its value decoded.
struct Pair {
  std::string key;
  std::string value;
  uint64_t flags = 0;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t lock_index = 0;
  std::string session;
};

Result<std::vector<Pair>> DecodePairs(const Json& j) {
  std::vector<Pair> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    Pair p;
    p.key = JsonString(e, "Key");
    if (auto v = e.find("Value"); v != e.end() && v->is_string()) {
      auto decoded = Base64Decode(v->get<std::string>());
      if (!decoded.ok()) return Internal("invalid base64 Value for key " + p.key + " in the answer");
      p.value = std::move(*decoded);
    }
    p.flags = static_cast<uint64_t>(JsonInt(e, "Flags"));
    p.create_index = static_cast<uint64_t>(JsonInt(e, "CreateIndex"));
    p.modify_index = static_cast<uint64_t>(JsonInt(e, "ModifyIndex"));
    p.lock_index = static_cast<uint64_t>(JsonInt(e, "LockIndex"));
    p.session = JsonString(e, "Session");
    out.push_back(std::move(p));
  }
  return out;
}

// Consul's prettyKVPair: a tabwriter block with padding 6, no final newline.
std::string Detailed(const Pair& p, bool base64) {
  return AlignPairs({{"CreateIndex", std::to_string(p.create_index)},
                     {"Flags", std::to_string(p.flags)},
                     {"Key", p.key},
                     {"LockIndex", std::to_string(p.lock_index)},
                     {"ModifyIndex", std::to_string(p.modify_index)},
                     {"Session", p.session.empty() ? "-" : p.session},
                     {"Value", base64 ? Base64Encode(p.value) : p.value}},
                    6);
}

class KvGetCommand : public Command {
 public:
  explicit KvGetCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.Bool("base64", &base64_, "Base64 encode the value. The default value is false.");
    flags_.Bool("detailed", &detailed_,
                "Provide additional metadata about the key in addition to the value such as "
                "the ModifyIndex and any flags that may have been set on the key. The default "
                "value is false.");
    flags_.Bool("keys", &keys_,
                "List keys which start with the given prefix, but not their values. This is "
                "especially useful if you only need the key names themselves. This option is "
                "commonly combined with the -separator option. The default value is false.");
    flags_.Bool("recurse", &recurse_,
                "Recursively look at all keys prefixed with the given path. The default value "
                "is false.");
    flags_.String("separator", &separator_, "string",
                  "String to use as a separator between keys. The default value is \"/\", but "
                  "this option is only taken into account when paired with the -keys flag.");
  }

  std::string Synopsis() const override { return "Retrieves or lists data from the KV store"; }
  std::string Help() const override {
    return "Usage: gangway kv get [options] [KEY_OR_PREFIX]\n\n"
           "  Retrieves the value from Gangway's key-value store at the given key name. If no\n"
           "  key exists with that name, an error is returned. If a key exists with that\n"
           "  name but has no data, nothing is returned. If the name or prefix is omitted,\n"
           "  it defaults to \"\" which is the root of the key-value store.\n\n"
           "  To retrieve the value for the key named \"foo\" in the key-value store:\n\n"
           "      $ gangway kv get foo\n\n"
           "  To list all keys and values which start with \"foo\", specify -recurse:\n\n"
           "      $ gangway kv get -recurse foo\n\n"
           "  To list only the key names which start with \"foo\", specify -keys:\n\n"
           "      $ gangway kv get -keys foo\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.size() > 1) {
      *env_.err << "Too many arguments (expected 1, got " << rest.size() << ")\n";
      return 1;
    }
    std::string key = StripLeadingSlash(rest.empty() ? "" : rest[0]);
    if (key.empty() && !recurse_ && !keys_) {
      *env_.err << "Error! Missing KEY argument\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());

    if (keys_) {
      Params params = {{"keys", ""}};
      if (!separator_.empty()) params.emplace_back("separator", separator_);
      auto res = client->Send("GET", KvPath(key), params);
      if (!res.ok() || (res->status != 404 && (res->status < 200 || res->status > 299))) {
        return QueryError(res.ok() ? UnexpectedResponse(*res) : res.status());
      }
      if (res->status == 404) return 0;
      Json j = Json::parse(res->body, nullptr, false);
      if (j.is_array()) {
        for (const auto& k : j) {
          if (k.is_string()) *env_.out << k.get<std::string>() << "\n";
        }
      }
      return 0;
    }

    auto res = client->Send("GET", KvPath(key), recurse_ ? Params{{"recurse", ""}} : Params{});
    if (!res.ok()) return QueryError(res.status());
    if (res->status == 404) {
      if (recurse_) return 0;
      *env_.err << "Error! No key exists at: " << key << "\n";
      return 1;
    }
    if (res->status < 200 || res->status > 299) return QueryError(UnexpectedResponse(*res));
    Json j = Json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return QueryError(Internal("invalid JSON in the agent's answer"));
    auto pairs = DecodePairs(j);
    if (!pairs.ok()) return QueryError(pairs.status());

    if (recurse_) {
      for (size_t i = 0; i < pairs->size(); ++i) {
        const Pair& p = (*pairs)[i];
        if (detailed_) {
          *env_.out << Detailed(p, base64_) << "\n";
          if (i + 1 < pairs->size()) *env_.out << "\n";
        } else {
          *env_.out << p.key << ":" << (base64_ ? Base64Encode(p.value) : p.value) << "\n";
        }
      }
      return 0;
    }
    if (pairs->empty()) {
      *env_.err << "Error! No key exists at: " << key << "\n";
      return 1;
    }
    const Pair& p = pairs->front();
    if (detailed_) {
      *env_.out << Detailed(p, base64_) << "\n";
    } else {
      *env_.out << (base64_ ? Base64Encode(p.value) : p.value) << "\n";
    }
    return 0;
  }

 private:
  int QueryError(const Status& st) {
    *env_.err << "Error querying Gangway agent: " << st.message() << "\n";
    return 1;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool base64_ = false;
  bool detailed_ = false;
  bool keys_ = false;
  bool recurse_ = false;
  std::string separator_ = "/";
};

class KvPutCommand : public Command {
 public:
  explicit KvPutCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.Bool("acquire", &acquire_,
                "Obtain a lock on the key. If the key does not exist, this operation will "
                "create the key and obtain the lock. The session must already exist and be "
                "specified via the -session flag. The default value is false.");
    flags_.Bool("base64", &base64_,
                "Treat the data as base 64 encoded. The default value is false.");
    flags_.Bool("cas", &cas_,
                "Perform a Check-And-Set operation. Specifying this value also requires the "
                "-modify-index flag to be set. The default value is false.");
    flags_.Uint("flags", &flags_value_, "uint",
                "Unsigned integer value to assign to this key-value pair. This value is not "
                "read by Gangway, so clients can use this value however makes sense for their "
                "use case. The default value is 0 (no flags).");
    flags_.Uint("modify-index", &modify_index_, "uint",
                "Unsigned integer representing the ModifyIndex of the key. This is used in "
                "combination with the -cas flag.");
    flags_.Bool("release", &release_,
                "Forfeit the lock on the key at the given path. This requires the -session "
                "flag to be set. The key must be held by the session in order to be unlocked. "
                "The default value is false.");
    flags_.String("session", &session_, "string",
                  "User-defined identifer for this session as a string. This is commonly used "
                  "with the -acquire and -release operations to build robust locking, but it "
                  "can be set on any key. The default value is empty (no session).");
  }

  std::string Synopsis() const override { return "Sets or updates data in the KV store"; }
  std::string Help() const override {
    return "Usage: gangway kv put [options] KEY [DATA]\n\n"
           "  Writes the data to the given path in the key-value store. The data can be of\n"
           "  any type.\n\n"
           "      $ gangway kv put config/redis/maxconns 5\n\n"
           "  The data can also be consumed from a file on disk by prefixing with the \"@\"\n"
           "  symbol. For example:\n\n"
           "      $ gangway kv put config/program/license @license.lic\n\n"
           "  Or it can be read from stdin using the \"-\" symbol:\n\n"
           "      $ echo \"abcd1234\" | gangway kv put config/program/license -\n\n"
           "  The DATA argument itself is optional. If omitted, this will create the key\n"
           "  with no data:\n\n"
           "      $ gangway kv put webapp/beta/active\n\n"
           "  If the -base64 flag is specified, the data will be treated as base 64 encoded.\n\n"
           "  To perform a Check-And-Set operation, specify the -cas flag with the\n"
           "  appropriate -modify-index flag corresponding to the key you want to perform\n"
           "  the CAS operation on:\n\n"
           "      $ gangway kv put -cas -modify-index=844 config/redis/maxconns 5\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.empty()) {
      *env_.err << "Error! Missing KEY argument\n";
      return 1;
    }
    if (rest.size() > 2) {
      *env_.err << "Error! Too many arguments (expected 1 or 2, got " << rest.size() << ")\n";
      return 1;
    }
    std::string key = rest[0];
    auto data = Data(rest.size() == 2 ? rest[1] : "");
    if (!data.ok()) {
      *env_.err << "Error! " << data.status().message() << "\n";
      return 1;
    }
    std::string body = std::move(*data);
    if (base64_) {
      auto decoded = Base64Decode(body);
      if (!decoded.ok()) {
        *env_.err << "Error! Cannot base 64 decode data: illegal base64 data\n";
        return 1;
      }
      body = std::move(*decoded);
    }
    if ((acquire_ || release_) && session_.empty()) {
      *env_.err << "Error! Missing -session (required with -acquire and -release)\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());

    Params params;
    if (flags_value_ != 0) params.emplace_back("flags", std::to_string(flags_value_));
    if (cas_) {
      params.emplace_back("cas", std::to_string(modify_index_));
    } else if (acquire_) {
      params.emplace_back("acquire", session_);
    } else if (release_) {
      params.emplace_back("release", session_);
    }
    auto res = client->Put(KvPath(key), params, std::move(body));
    if (!res.ok()) {
      if (cas_) {
        *env_.err << "Error! Did not write to " << key << ": " << res.status().message() << "\n";
      } else {
        *env_.err << "Error! Failed writing data: " << res.status().message() << "\n";
      }
      return 1;
    }
    bool written = res->find("true") != std::string::npos;
    if (cas_) {
      if (!written) {
        *env_.err << "Error! Did not write to " << key << ": CAS failed\n";
        return 1;
      }
    } else if (acquire_) {
      if (!written) {
        *env_.err << "Error! Did not acquire lock\n";
        return 1;
      }
      *env_.out << "Success! Lock acquired on: " << key << "\n";
      return 0;
    } else if (release_) {
      if (!written) {
        *env_.err << "Error! Did not release lock\n";
        return 1;
      }
      *env_.out << "Success! Lock released on: " << key << "\n";
      return 0;
    }
    *env_.out << "Success! Data written to: " << key << "\n";
    return 0;
  }

 private:
  // DATA as Consul reads it: "@file" is the file's content, "-" is stdin, anything else itself.
  Result<std::string> Data(const std::string& arg) {
    if (arg.empty()) return std::string();
    if (arg[0] == '@') {
      std::ifstream in(arg.substr(1), std::ios::binary);
      if (!in)
        return InvalidArgument("Failed to read file: open " + arg.substr(1) +
                               ": no such file or directory");
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    }
    if (arg == "-") {
      if (env_.in == nullptr) return std::string();
      return std::string(std::istreambuf_iterator<char>(*env_.in), {});
    }
    return arg;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool acquire_ = false;
  bool base64_ = false;
  bool cas_ = false;
  uint64_t flags_value_ = 0;
  uint64_t modify_index_ = 0;
  bool release_ = false;
  std::string session_;
};

class KvDeleteCommand : public Command {
 public:
  explicit KvDeleteCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.Bool("cas", &cas_,
                "Perform a Check-And-Set operation. Specifying this value also requires the "
                "-modify-index flag to be set. The default value is false.");
    flags_.Uint("modify-index", &modify_index_, "uint",
                "Unsigned integer representing the ModifyIndex of the key. This is used in "
                "combination with the -cas flag.");
    flags_.Bool("recurse", &recurse_,
                "Recursively delete all keys with the path. The default value is false.");
  }

  std::string Synopsis() const override { return "Removes data from the KV store"; }
  std::string Help() const override {
    return "Usage: gangway kv delete [options] KEY_OR_PREFIX\n\n"
           "  Removes the value from Gangway's key-value store at the given path. If no\n"
           "  key exists at the path, no action is taken.\n\n"
           "  To delete the value for the key named \"foo\" in the key-value store:\n\n"
           "      $ gangway kv delete foo\n\n"
           "  To delete all keys which start with \"foo\", specify the -recurse option:\n\n"
           "      $ gangway kv delete -recurse foo\n\n"
           "  This will delete the keys named \"foo\", \"food\", and \"foo/bar/zip\" if they\n"
           "  existed.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.size() > 1) {
      *env_.err << "Too many arguments (expected 1, got " << rest.size() << ")\n";
      return 1;
    }
    std::string key = StripLeadingSlash(rest.empty() ? "" : rest[0]);
    if (key.empty() && !recurse_) {
      *env_.err << "Error! Missing KEY argument\n";
      return 1;
    }
    if (cas_ && modify_index_ == 0) {
      *env_.err << "Must specify -modify-index with -cas!\n";
      return 1;
    }
    if (modify_index_ != 0 && !cas_) {
      *env_.err << "Cannot specify -modify-index without -cas!\n";
      return 1;
    }
    if (recurse_ && cas_) {
      *env_.err << "Cannot specify both -cas and -recurse!\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());

    if (recurse_) {
      if (auto r = client->Delete(KvPath(key), {{"recurse", ""}}); !r.ok()) {
        *env_.err << "Error! Did not delete prefix " << key << ": " << r.status().message() << "\n";
        return 1;
      }
      *env_.out << "Success! Deleted keys with prefix: " << key << "\n";
      return 0;
    }
    if (cas_) {
      auto r = client->Delete(KvPath(key), {{"cas", std::to_string(modify_index_)}});
      if (!r.ok()) {
        *env_.err << "Error! Did not delete key " << key << ": " << r.status().message() << "\n";
        return 1;
      }
      if (r->find("true") == std::string::npos) {
        *env_.err << "Error! Did not delete key " << key << ": CAS failed\n";
        return 1;
      }
      *env_.out << "Success! Deleted key: " << key << "\n";
      return 0;
    }
    if (auto r = client->Delete(KvPath(key)); !r.ok()) {
      *env_.err << "Error deleting key " << key << ": " << r.status().message() << "\n";
      return 1;
    }
    *env_.out << "Success! Deleted key: " << key << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool cas_ = false;
  uint64_t modify_index_ = 0;
  bool recurse_ = false;
};

}  // namespace

std::unique_ptr<Command> NewKvCommand(Environment&) {
  return NewParentCommand(
      "Interact with the key-value store",
      "Usage: gangway kv <subcommand> [options] [args]\n\n"
      "  This command has subcommands for interacting with Gangway's key-value\n"
      "  store. Here are some simple examples, and more detailed examples are\n"
      "  available in the subcommands or the documentation.\n\n"
      "  Create or update the key named \"redis/config/connections\" with the value \"5\":\n\n"
      "      $ gangway kv put redis/config/connections 5\n\n"
      "  Read this value back:\n\n"
      "      $ gangway kv get redis/config/connections\n\n"
      "  Or get detailed key information:\n\n"
      "      $ gangway kv get -detailed redis/config/connections\n\n"
      "  Finally, delete the key:\n\n"
      "      $ gangway kv delete redis/config/connections\n\n"
      "  For more examples, ask for subcommand help or view the documentation.");
}

std::unique_ptr<Command> NewKvGetCommand(Environment& env) {
  return std::make_unique<KvGetCommand>(env);
}
std::unique_ptr<Command> NewKvPutCommand(Environment& env) {
  return std::make_unique<KvPutCommand>(env);
}
std::unique_ptr<Command> NewKvDeleteCommand(Environment& env) {
  return std::make_unique<KvDeleteCommand>(env);
}

}  // namespace gangway::cli
