// gangway connect ca get-config|set-config (GET/PUT /v1/connect/ca/configuration), with the
// output and error texts of `consul connect ca`. Consul's CLI passes the configuration through
// its api.CAConfig struct with Go's encoding/json, so this file does the same: the fields in the
// struct's order, Config as a Go map (sorted keys, numbers as float64), Go's error texts.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"
#include "cli/go_json.h"
#include "core/strings.h"

namespace gangway::cli {

namespace {

constexpr char kPath[] = "/v1/connect/ca/configuration";

// api.CAConfig.
struct CAConfigFields {
  std::string provider;
  Json config;  // map[string]interface{}: null or an object
  Json state;   // map[string]string: null or an object of strings
  bool force_without_cross_signing = false;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  GoFields Fields() const {
    return {{"Provider", provider},
            {"Config", config},
            {"State", state},
            {"ForceWithoutCrossSigning", force_without_cross_signing},
            {"CreateIndex", create_index},
            {"ModifyIndex", modify_index}};
  }
};

using OrderedJson = nlohmann::ordered_json;

// The JSON kind as Go's UnmarshalTypeError names it.
std::string Kind(const OrderedJson& v) {
  switch (v.type()) {
    case OrderedJson::value_t::object: return "object";
    case OrderedJson::value_t::array: return "array";
    case OrderedJson::value_t::string: return "string";
    case OrderedJson::value_t::boolean: return "bool";
    default: return "number";
  }
}

Status TypeError(const std::string& value, const std::string& field, const char* go_type) {
  return InvalidArgument("json: cannot unmarshal " + value + " into Go struct field CAConfig." +
                         field + " of type " + go_type);
}

// A value decoded into Go's interface{}: every number becomes a float64.
Json GoInterface(const OrderedJson& v) {
  switch (v.type()) {
    case OrderedJson::value_t::object: {
      Json out = Json::object();
      for (const auto& [k, e] : v.items()) out[k] = GoInterface(e);
      return out;
    }
    case OrderedJson::value_t::array: {
      Json out = Json::array();
      for (const auto& e : v) out.push_back(GoInterface(e));
      return out;
    }
    case OrderedJson::value_t::number_integer:
    case OrderedJson::value_t::number_unsigned:
    case OrderedJson::value_t::number_float: return v.get<double>();
    case OrderedJson::value_t::string: return v.get<std::string>();
    case OrderedJson::value_t::boolean: return v.get<bool>();
    default: return nullptr;
  }
}

// json.Unmarshal(text, &api.CAConfig{}): syntax first, then field by field (names matched
// case-insensitively, unknown names ignored), reporting the first type mismatch.
Result<CAConfigFields> DecodeCAConfig(std::string_view text) {
  if (Status st = GoJsonSyntax(text); !st.ok()) return st;
  OrderedJson doc = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    // Go would take these (replacing bad UTF-8 and lone surrogates with U+FFFD).
    return InvalidArgument(
        "the JSON has invalid UTF-8, a lone \\u surrogate escape or a number too large for a "
        "float64");
  }
  CAConfigFields c;
  if (doc.is_null()) return c;
  if (!doc.is_object()) {
    return InvalidArgument("json: cannot unmarshal " + Kind(doc) +
                           " into Go value of type api.CAConfig");
  }
  Status first;
  auto fail = [&first](Status st) {
    if (first.ok()) first = std::move(st);
  };
  auto index = [&fail](const OrderedJson& v, const char* field, uint64_t* out) {
    if (v.is_number_unsigned()) {
      *out = v.get<uint64_t>();
    } else if (v.is_number()) {
      fail(TypeError("number " + v.dump(), field, "uint64"));
    } else {
      fail(TypeError(Kind(v), field, "uint64"));
    }
  };
  for (const auto& [key, v] : doc.items()) {
    const std::string k = ToLower(key);
    if (v.is_null()) {  // null empties a map and leaves anything else alone
      if (k == "config") c.config = nullptr;
      if (k == "state") c.state = nullptr;
      continue;
    }
    if (k == "provider") {
      if (v.is_string()) {
        c.provider = v.get<std::string>();
      } else {
        fail(TypeError(Kind(v), "Provider", "string"));
      }
    } else if (k == "config") {
      if (!v.is_object()) {
        fail(TypeError(Kind(v), "Config", "map[string]interface {}"));
        continue;
      }
      if (!c.config.is_object()) c.config = Json::object();
      for (const auto& [ck, cv] : v.items()) c.config[ck] = GoInterface(cv);
    } else if (k == "state") {
      if (!v.is_object()) {
        fail(TypeError(Kind(v), "State", "map[string]string"));
        continue;
      }
      if (!c.state.is_object()) c.state = Json::object();
      for (const auto& [sk, sv] : v.items()) {
        // Go names the map field, not the key, in the error.
        if (!sv.is_string() && !sv.is_null()) fail(TypeError(Kind(sv), "State", "string"));
        c.state[sk] = sv.is_string() ? sv.get<std::string>() : "";
      }
    } else if (k == "forcewithoutcrosssigning") {
      if (v.is_boolean()) {
        c.force_without_cross_signing = v.get<bool>();
      } else {
        fail(TypeError(Kind(v), "ForceWithoutCrossSigning", "bool"));
      }
    } else if (k == "createindex") {
      index(v, "CreateIndex", &c.create_index);
    } else if (k == "modifyindex") {
      index(v, "ModifyIndex", &c.modify_index);
    }
  }
  if (!first.ok()) return first;
  return c;
}

// os.ReadFile, failing with Go's *PathError text ("open ca.json: no such file or directory").
Result<std::string> ReadFile(const std::string& path) {
  auto go_error = [&path](const char* op, int err) {
    std::string reason = std::strerror(err);
    if (reason.size() > 1 && reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] >= 'a' &&
        reason[1] <= 'z') {
      reason[0] = static_cast<char>(reason[0] - 'A' + 'a');
    }
    return InvalidArgument(std::string(op) + " " + path + ": " + reason);
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return go_error("open", errno);
  std::string data;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) return go_error("read", err);
  return data;
}

class GetConfigCommand : public Command {
 public:
  explicit GetConfigCommand(Environment& env) : env_(env) { http_.Register(&flags_); }
  std::string Synopsis() const override {
    return "Display the current Connect Certificate Authority (CA) configuration";
  }
  std::string Help() const override {
    return "Usage: gangway connect ca get-config [options]\n\n"
           "  Displays the current Connect Certificate Authority (CA) configuration.\n\n" +
           flags_.Usage();
  }
  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) {
      FlagError(env_, st, *this);
      return Fail(env_, "Failed to parse args: " + st.message());
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return Fail(env_, "Error initializing client: " + client.status().message());
    auto body = client->Get(kPath);
    if (!body.ok()) return Fail(env_, "Error querying CA configuration: " + body.status().message());
    // Go's json.Decoder reports an empty body as io.EOF.
    if (body->find_first_not_of(" \t\r\n") == std::string::npos) {
      return Fail(env_, "Error querying CA configuration: EOF");
    }
    auto config = DecodeCAConfig(*body);
    if (!config.ok()) return Fail(env_, "Error querying CA configuration: " + config.status().message());
    *env_.out << GoMarshal(config->Fields(), "\t") << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class SetConfigCommand : public Command {
 public:
  explicit SetConfigCommand(Environment& env) : env_(env) {
    flags_.String("config-file", &config_file_, "value", "The path to the config file to use.");
    flags_.Bool("force-without-cross-signing", &force_,
                "Indicates that the CA reconfiguration should go ahead even if the current CA "
                "is unable to cross sign certificates. This risks temporary connection failures "
                "during the rollout as new leafs will be rejected by proxies that have not yet "
                "observed the new root cert but is the only option if a CA that doesn't support "
                "cross signing needs to be reconfigured or mirated away from.");
    http_.Register(&flags_);
  }
  std::string Synopsis() const override { return "Modify the current Connect CA configuration"; }
  std::string Help() const override {
    return "Usage: gangway connect ca set-config [options]\n\n"
           "  Modifies the current Connect Certificate Authority (CA) configuration.\n\n" +
           flags_.Usage();
  }
  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) {
      FlagError(env_, st, *this);
      return Fail(env_, "Failed to parse args: " + st.message());
    }
    // Consul's order: the client (address, token file) is checked before the flags' values.
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return Fail(env_, "Error initializing client: " + client.status().message());
    if (config_file_.empty()) return Fail(env_, "The -config-file flag is required");
    auto text = ReadFile(config_file_);
    if (!text.ok()) return Fail(env_, "Error reading config file: " + text.status().message());
    auto config = DecodeCAConfig(*text);
    if (!config.ok()) return Fail(env_, "Error parsing config file: " + config.status().message());
    // As Consul: the flag decides, whatever the file says.
    config->force_without_cross_signing = force_;
    // Go's json.Encoder, which the API client uses for request bodies, ends with a newline.
    auto r = client->Put(kPath, {}, GoMarshal(config->Fields()) + "\n");
    if (!r.ok()) return Fail(env_, "Error setting CA configuration: " + r.status().message());
    *env_.out << "Configuration updated!\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string config_file_;
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Command> NewConnectCommand(Environment&) {
  return NewParentCommand(
      "Interact with Gangway Connect",
      "Usage: gangway connect <subcommand> [options] [args]\n\n"
      "  This command has subcommands for interacting with Gangway Connect.\n\n"
      "  Here are some simple examples, and more detailed examples are\n"
      "  available in the subcommands or the documentation.\n\n"
      "  Display the Connect Certificate Authority (CA) configuration\n\n"
      "      $ gangway connect ca get-config\n\n"
      "  For more examples, ask for subcommand help or view the documentation.");
}
std::unique_ptr<Command> NewConnectCaCommand(Environment&) {
  return NewParentCommand(
      "Interact with the Gangway Connect Certificate Authority (CA)",
      "Usage: gangway connect ca <subcommand> [options] [args]\n\n"
      "  This command has subcommands for interacting with Gangway Connect's\n"
      "  Certificate Authority (CA).\n\n"
      "  Here are some simple examples, and more detailed examples are\n"
      "  available in the subcommands or the documentation.\n\n"
      "  Get the configuration:\n\n"
      "      $ gangway connect ca get-config\n\n"
      "  Update the configuration:\n\n"
      "      $ gangway connect ca set-config -config-file ca.json\n\n"
      "  For more examples, ask for subcommand help or view the documentation.");
}
std::unique_ptr<Command> NewConnectCaGetConfigCommand(Environment& env) {
  return std::make_unique<GetConfigCommand>(env);
}
std::unique_ptr<Command> NewConnectCaSetConfigCommand(Environment& env) {
  return std::make_unique<SetConfigCommand>(env);
}

}  // namespace gangway::cli
