// gangway intention create|check|list|get|delete: intentions through /v1/connect/intentions,
// with the output texts and exit codes of `consul intention` (check: 0 allowed, 1 denied, 2 an
// error; list: 2 when there are none). Intentions are named "SRC => DST (action)".
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "cli/table.h"
#include "core/flags.h"

namespace gangway::cli {
namespace {

Params Exact(const std::string& source, const std::string& destination) {
  return {{"source", source}, {"destination", destination}};
}

constexpr char kExactPath[] = "/v1/connect/intentions/exact";

bool IsNotFound(const Status& s) {
  return s.message().rfind("Unexpected response code: 404", 0) == 0;
}

class CreateCommand : public Command {
 public:
  explicit CreateCommand(Environment& env) : env_(env) {
    flags_.Bool("allow", &allow_, "Create an intention that allows when matched.");
    flags_.Bool("deny", &deny_, "Create an intention that denies when matched.");
    flags_.Bool("replace", &replace_, "Replace matching intentions.");
    http_.Register(&flags_, false);
  }

  std::string Synopsis() const override { return "Create intentions for service connections."; }
  std::string Help() const override {
    return "Usage: gangway intention create [options] SRC DST\n\n"
           "  Create an intention from SRC to DST, stored in DST's service-intentions\n"
           "  config entry.\n\n"
           "      $ gangway intention create web db\n\n"
           "  An \"allow\" intention is created by default. To create a \"deny\"\n"
           "  intention, specify the \"-deny\" flag. If an intention from SRC to DST\n"
           "  exists, creation fails unless \"-replace\" is given.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (allow_ && deny_) return Fail(env_, "Only one of -allow or -deny may be specified.");
    const auto& rest = flags_.Args();
    if (rest.size() != 2) {
      return Fail(env_, "Error: Must specify two arguments: source and destination");
    }
    const std::string action = deny_ ? "deny" : "allow";
    const std::string name = rest[0] + " => " + rest[1] + " (" + action + ")";
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      return Fail(env_, "Error connecting to Gangway agent: " + client.status().message());
    }
    if (!replace_) {
      auto old = client->GetJson(kExactPath, Exact(rest[0], rest[1]));
      if (old.ok()) {
        return Fail(env_, "Error creating intention \"" + name + "\": duplicate intention found: " +
                              rest[0] + " => " + rest[1] + " (" + JsonString(*old, "Action") +
                              ")");
      }
      if (!IsNotFound(old.status())) {
        return Fail(env_, "Error creating intention \"" + name + "\": " + old.status().message());
      }
    }
    Json body = {{"SourceType", "consul"}, {"Action", action}};
    auto res = client->Put(kExactPath, Exact(rest[0], rest[1]), body.dump());
    if (!res.ok()) {
      return Fail(env_, (replace_ ? "Error replacing intention with source \"" + rest[0] +
                                        "\" and destination \"" + rest[1] + "\": "
                                  : "Error creating intention \"" + name + "\": ") +
                            res.status().message());
    }
    *env_.out << "Created: " << name << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool allow_ = false;
  bool deny_ = false;
  bool replace_ = false;
};

class CheckCommand : public Command {
 public:
  explicit CheckCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override {
    return "Check whether a connection between two services is allowed.";
  }
  std::string Help() const override {
    return "Usage: gangway intention check [options] SRC DST\n\n"
           "  Check whether a connection between SRC and DST would be allowed by\n"
           "  the mesh given the current intentions.\n\n"
           "      $ gangway intention check web db\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) {
      FlagError(env_, st, *this);
      return 2;
    }
    const auto& rest = flags_.Args();
    if (rest.size() != 2) {
      Fail(env_, "Error: command requires exactly two arguments: src and dst");
      return 2;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      Fail(env_, "Error connecting to Gangway agent: " + client.status().message());
      return 2;
    }
    auto res = client->GetJson("/v1/connect/intentions/check", Exact(rest[0], rest[1]));
    if (!res.ok()) {
      Fail(env_, "Error checking the connection: " + res.status().message());
      return 2;
    }
    if (res->is_object() && res->value("Allowed", false)) {
      *env_.out << "Allowed\n";
      return 0;
    }
    *env_.out << "Denied\n";
    return 1;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class ListCommand : public Command {
 public:
  explicit ListCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override { return "List connect intentions"; }
  std::string Help() const override {
    return "Usage: gangway intention list\n\n  List all intentions.\n\n" + flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      return Fail(env_, "Error connecting to Gangway agent: " + client.status().message());
    }
    auto list = client->GetJson("/v1/connect/intentions");
    if (!list.ok()) {
      return Fail(env_, "Failed to retrieve the intentions list: " + list.status().message());
    }
    if (!list->is_array() || list->empty()) {
      Fail(env_, "There are no intentions.");
      return 2;
    }
    std::vector<Row> rows = {{"ID", "Source", "Action", "Destination", "Precedence"}};
    for (const Json& i : *list) {
      std::string precedence =
          i.contains("Precedence") ? std::to_string(i["Precedence"].get<int>()) : "0";
      rows.push_back({JsonString(i, "ID"), JsonString(i, "SourceName"), JsonString(i, "Action"),
                      JsonString(i, "DestinationName"), precedence});
    }
    *env_.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class GetCommand : public Command {
 public:
  explicit GetCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override { return "Show information about an intention."; }
  std::string Help() const override {
    return "Usage: gangway intention get [options] SRC DST\n\n"
           "  Read and show the intention from SRC to DST.\n\n"
           "      $ gangway intention get web db\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.size() != 2) return Fail(env_, "command requires exactly 2 arguments: SRC DST");
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      return Fail(env_, "Error connecting to Gangway agent: " + client.status().message());
    }
    auto ixn = client->GetJson(kExactPath, Exact(rest[0], rest[1]));
    if (!ixn.ok()) return Fail(env_, "Error: " + ixn.status().message());
    std::vector<std::pair<std::string, std::string>> pairs = {
        {"Source:", JsonString(*ixn, "SourceName")},
        {"Destination:", JsonString(*ixn, "DestinationName")},
        {"Action:", JsonString(*ixn, "Action")},
    };
    if (!JsonString(*ixn, "ID").empty()) pairs.push_back({"ID:", JsonString(*ixn, "ID")});
    if (!JsonString(*ixn, "Description").empty()) {
      pairs.push_back({"Description:", JsonString(*ixn, "Description")});
    }
    *env_.out << AlignPairs(pairs, 1) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class DeleteCommand : public Command {
 public:
  explicit DeleteCommand(Environment& env) : env_(env) { http_.Register(&flags_, false); }

  std::string Synopsis() const override { return "Delete an intention."; }
  std::string Help() const override {
    return "Usage: gangway intention delete [options] SRC DST\n\n"
           "  Delete an intention. This cannot be reversed.\n\n"
           "      $ gangway intention delete web db\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.size() != 2) return Fail(env_, "command requires exactly 2 arguments: SRC DST");
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      return Fail(env_, "Error connecting to Gangway agent: " + client.status().message());
    }
    auto res = client->Delete(kExactPath, Exact(rest[0], rest[1]));
    if (!res.ok()) return Fail(env_, "Error deleting the intention: " + res.status().message());
    *env_.out << "Intention deleted.\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewIntentionCommand(Environment&) {
  return NewParentCommand("Interact with service mesh intentions",
                          "Usage: gangway intention <subcommand> [options] [args]\n\n"
                          "  Intentions say which services may connect to which. Examples:\n\n"
                          "      $ gangway intention create web db\n"
                          "      $ gangway intention check web db\n"
                          "      $ gangway intention delete web db");
}
std::unique_ptr<Command> NewIntentionCreateCommand(Environment& env) {
  return std::make_unique<CreateCommand>(env);
}
std::unique_ptr<Command> NewIntentionCheckCommand(Environment& env) {
  return std::make_unique<CheckCommand>(env);
}
std::unique_ptr<Command> NewIntentionListCommand(Environment& env) {
  return std::make_unique<ListCommand>(env);
}
std::unique_ptr<Command> NewIntentionGetCommand(Environment& env) {
  return std::make_unique<GetCommand>(env);
}
std::unique_ptr<Command> NewIntentionDeleteCommand(Environment& env) {
  return std::make_unique<DeleteCommand>(env);
}

}  // namespace gangway::cli
