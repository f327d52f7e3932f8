// gangway config write|read|list|delete: config entries through /v1/config, with the output and
// error texts of `consul config`. The CLI reads an entry file (HCL or JSON, by extension) with
// codec's document reader and sends it as JSON with its keys as written; the servers decode,
// normalize and validate it.
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "codec/document.h"
#include "core/flags.h"
#include "core/strings.h"
#include "meshcfg/config_entry.h"
#include "meshcfg/tutorial_router.h"

namespace gangway::cli {
namespace {

constexpr char kCasUsage[] =
    "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index "
    "flag to be set. The default value is false.";
constexpr char kModifyIndexUsage[] =
    "Unsigned integer representing the ModifyIndex of the config entry. This is used in "
    "combination with the -cas flag.";

std::string EntryPath(const std::string& kind, const std::string& name = "") {
  std::string path = "/v1/config/" + EscapePathSegment(kind);
  if (!name.empty()) path += "/" + EscapePathSegment(name);
  return path;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// An answer body without surrounding whitespace ("true\n" is true).
std::string Trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

int ConnectError(Environment& env, const Status& st) {
  return Fail(env, "Error connect to Gangway agent: " + st.message());
}

// A top-level string member under Consul's key or its lower-case spelling.
std::string TopLevel(const Json& entry, const char* key, const char* lower) {
  for (const char* k : {key, lower}) {
    auto it = entry.find(k);
    if (it != entry.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

// An entry file as read: the document (for line numbers) and the "note:" lines for the forms
// Gangway accepts and Consul does not.
struct EntryFile {
  codec::Document doc;
  std::vector<std::string> notes;
};

// The base name of `path` up to its first '.': "service-defaults" for "x/service-defaults.consul".
std::string Stem(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return base.substr(0, base.find('.'));
}

// The entry file as Consul's helpers.ParseConfigEntry reads it, as far as the CLI checks: the
// document parses, is one object and names its kind. The rest is the servers' to check. Beyond
// Consul: '#' comments in JSON, and a file without Kind named for its kind (the tutorial's
// "service-defaults.consul"), each with a note.
Result<EntryFile> ParseEntry(const std::string& text, const std::string& source) {
  // The format by extension, as Consul's; stdin (or another name): JSON when it looks like it.
  const std::string lower = ToLower(source);
  bool json = EndsWith(lower, ".json");
  if (!json && !EndsWith(lower, ".hcl")) {
    auto first = text.find_first_not_of(" \t\r\n");
    json = first != std::string::npos && text[first] == '{';
  }
  auto doc = json ? codec::ParseJson(text, source) : codec::ParseHcl(text, source);
  if (!doc.ok()) return doc.status();
  EntryFile out{std::move(*doc), {}};
  const std::string name = source.empty() ? "stdin" : source;
  if (json && out.doc.json_had_comments) {
    out.notes.push_back(name +
                        ": comments are not valid JSON; accepted and ignored (Consul rejects "
                        "this file; an .hcl file may carry comments)");
  }
  Json& value = out.doc.value;
  if (!value.is_object()) return InvalidArgument("expected one config entry (an object)");
  if (!value.contains("Kind") && !value.contains("kind")) {
    const std::string stem = Stem(source);
    if (source.empty() || !meshcfg::IsKnownKind(stem)) {
      return InvalidArgument("Payload does not contain a kind/Kind key at the top level");
    }
    value["Kind"] = stem;
    out.notes.push_back(name + ": no Kind in the entry; read as Kind = \"" + stem +
                        "\", as the file's name says (Consul needs the Kind key)");
  }
  if (TopLevel(value, "Kind", "kind").empty()) {
    return InvalidArgument("Kind value in payload is not a string");
  }
  return out;
}

class WriteCommand : public Command {
 public:
  explicit WriteCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.Bool("cas", &cas_, kCasUsage);
    flags_.Uint("modify-index", &modify_index_, "uint", kModifyIndexUsage);
  }

  std::string Synopsis() const override { return "Create or update a centralized config entry"; }
  std::string Help() const override {
    return "Usage: gangway config write [options] <configuration>\n\n"
           "  Request a config entry to be created or updated. The configuration\n"
           "  argument is either a file path or '-' to indicate that the config\n"
           "  should be read from stdin. The data should be either in HCL or\n"
           "  JSON form.\n\n"
           "  Example (from file):\n\n"
           "    $ gangway config write web.service.hcl\n\n"
           "  Example (from stdin):\n\n"
           "    $ gangway config write -\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    const auto& rest = flags_.Args();
    if (rest.size() != 1) {
      return Fail(env_,
                  "Must provide exactly one positional argument to specify the config "
                  "entry to write");
    }
    auto data = Load(rest[0]);
    if (!data.ok()) return Fail(env_, "Failed to load data: " + data.status().message());
    auto file = ParseEntry(*data, rest[0] == "-" ? "" : rest[0]);
    if (!file.ok()) {
      return Fail(env_, "Failed to decode config entry input: " + file.status().message());
    }
    if (meshcfg::IsTutorialRouter(file->doc.value)) return WriteTutorialRouter(*file);
    for (const auto& n : file->notes) *env_.err << "note: " << n << "\n";
    const Json* entry = &file->doc.value;
    std::string kind = TopLevel(*entry, "Kind", "kind");
    std::string name = TopLevel(*entry, "Name", "name");
    // The singletons' fixed names, as the servers give them.
    if (name.empty() && kind == "proxy-defaults") name = "global";
    if (name.empty() && kind == "mesh") name = "mesh";
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    Params params;
    if (cas_) params.emplace_back("cas", std::to_string(modify_index_));
    auto res = client->Put("/v1/config", params, entry->dump());
    if (!res.ok()) {
      return Fail(
          env_, "Error writing config entry " + kind + "/" + name + ": " + res.status().message());
    }
    if (Trim(*res) != "true") {
      return Fail(env_, "Config entry not updated: " + kind + "/" + name);
    }
    *env_.out << "Config entry written: " << kind << "/" << name << "\n";
    return 0;
  }

 private:
  // The tutorial's service-router: written as the canonical entries it stands for (resolver
  // redirects, proxy-defaults MeshGateway local), each merged into the entry already stored and
  // written with -cas on its index, so a concurrent change is not overwritten.
  int WriteTutorialRouter(const EntryFile& file) {
    auto router = meshcfg::ReadTutorialRouter(file.doc.value, &file.doc);
    if (!router.ok()) {
      return Fail(env_, "Failed to decode config entry input: " + router.status().message());
    }
    if (cas_) {
      return Fail(env_, "-cas applies to one entry; this service-router stands for several (" +
                            meshcfg::DescribeTranslation(*router) + ")");
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    for (const auto& n : file.notes) *env_.err << "note: " << n << "\n";
    *env_.err << "note: " << meshcfg::DescribeTranslation(*router) << "\n";
    for (const auto& n : Warnings(*client, *router)) *env_.err << "note: " << n << "\n";

    for (const auto& [service, to] : router->redirects) {
      int rc = Merge(*client, "service-resolver", service, [&](const Json* existing) {
        return meshcfg::RedirectResolver(service, to, existing);
      });
      if (rc != 0) return rc;
    }
    if (router->mesh_gateway) {
      int rc = Merge(*client, "proxy-defaults", "global", [](const Json* existing) {
        return meshcfg::LocalGatewayProxyDefaults(existing);
      });
      if (rc != 0) return rc;
    }
    return 0;
  }

  // Reads kind/name, writes make(existing or null) with cas on the index read, and prints
  // Consul's line for it.
  template <typename Make>
  int Merge(const ApiClient& client, const std::string& kind, const std::string& name,
            Make make) {
    const std::string what = kind + "/" + name;
    auto got = client.Send("GET", EntryPath(kind, name));
    if (!got.ok()) return ConnectError(env_, got.status());
    Json existing;
    uint64_t index = 0;
    if (got->status == 200) {
      existing = Json::parse(got->body, nullptr, false);
      if (existing.is_discarded() || !existing.is_object()) {
        return Fail(env_, "Error reading config entry " + what + ": not a config entry");
      }
      index = static_cast<uint64_t>(JsonInt(existing, "ModifyIndex"));
    } else if (got->status != 404) {
      return Fail(env_, "Error reading config entry " + what + ": " +
                            UnexpectedResponse(*got).message());
    }
    Json entry = make(existing.is_object() ? &existing : nullptr);
    auto res = client.Put("/v1/config", {{"cas", std::to_string(index)}}, entry.dump());
    if (!res.ok()) {
      return Fail(env_, "Error writing config entry " + what + ": " + res.status().message());
    }
    if (Trim(*res) != "true") {
      return Fail(env_, "Config entry not updated: " + what + " (it changed while it was being "
                        "written; run the command again)");
    }
    *env_.out << "Config entry written: " << what << "\n";
    return 0;
  }

  // What would leave the translated entries without effect, from this datacenter's view.
  std::vector<std::string> Warnings(const ApiClient& client, const meshcfg::TutorialRouter& r) {
    std::vector<std::string> out;
    auto dcs = client.GetJson("/v1/catalog/datacenters");
    if (dcs.ok() && dcs->is_array()) {
      std::set<std::string> known;
      for (const auto& d : *dcs) {
        if (d.is_string()) known.insert(d.get<std::string>());
      }
      std::set<std::string> warned;
      for (const auto& [service, to] : r.redirects) {
        if (known.count(to.datacenter) || !warned.insert(to.datacenter).second) continue;
        out.push_back("datacenter \"" + to.datacenter +
                      "\" is not among the datacenters this one knows (gangway catalog "
                      "datacenters); until its servers join over the WAN, traffic sent there "
                      "fails");
      }
    }
    if (!r.local_gateway.empty()) {
      auto nodes = client.GetJson("/v1/catalog/service/" + EscapePathSegment(r.local_gateway));
      if (nodes.ok() && nodes->is_array() && nodes->empty()) {
        out.push_back("no service \"" + r.local_gateway +
                      "\" is registered in this datacenter yet: traffic to another "
                      "datacenter needs a mesh gateway here (gangway connect envoy "
                      "-gateway=mesh -register)");
      }
    }
    return out;
  }

  // A file's content, or stdin for "-" (Consul's LoadDataSourceNoRaw).
  Result<std::string> Load(const std::string& arg) {
    if (arg == "-") {
      if (env_.in == nullptr) return std::string();
      return std::string(std::istreambuf_iterator<char>(*env_.in), {});
    }
    std::ifstream in(arg, std::ios::binary);
    if (!in)
      return InvalidArgument("Failed to read file: open " + arg + ": no such file or directory");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool cas_ = false;
  uint64_t modify_index_ = 0;
};

class ReadCommand : public Command {
 public:
  explicit ReadCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.String("kind", &kind_, "string", "The kind of configuration to read.");
    flags_.String("name", &name_, "string", "The name of configuration to read.");
  }

  std::string Synopsis() const override { return "Read a centralized config entry"; }
  std::string Help() const override {
    return "Usage: gangway config read [options] -kind <config kind> -name <config name>\n\n"
           "  Reads the config entry specified by the given kind and name and outputs its\n"
           "  JSON representation.\n\n"
           "  Example:\n\n"
           "    $ gangway config read -kind proxy-defaults -name global\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (kind_.empty()) return Fail(env_, "Must specify the -kind parameter");
    if (name_.empty()) return Fail(env_, "Must specify the -name parameter");
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    auto entry = client->GetJson(EntryPath(kind_, name_));
    if (!entry.ok()) {
      return Fail(env_, "Error reading config entry \"" + kind_ + "\" / \"" + name_ +
                            "\": " + entry.status().message());
    }
    *env_.out << entry->dump(4) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string kind_;
  std::string name_;
};

class ListCommand : public Command {
 public:
  explicit ListCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.String("kind", &kind_, "string", "The kind of configurations to list.");
    flags_.String("filter", &filter_, "string", "Filter to use with the request.");
  }

  std::string Synopsis() const override {
    return "List centralized config entries of a given kind";
  }
  std::string Help() const override {
    return "Usage: gangway config list [options] -kind <config kind>\n\n"
           "  Lists all of the config entries for a given kind. The -kind parameter\n"
           "  is required.\n\n"
           "  Example:\n\n"
           "    $ gangway config list -kind service-defaults\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (kind_.empty()) return Fail(env_, "Must specify the -kind parameter");
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    Params params;
    if (!filter_.empty()) params.emplace_back("filter", filter_);
    auto list = client->GetJson(EntryPath(kind_), params);
    if (!list.ok()) {
      return Fail(env_, "Error listing config entries for kind \"" + kind_ +
                            "\": " + list.status().message());
    }
    if (list->is_array()) {
      for (const auto& e : *list) *env_.out << JsonString(e, "Name") << "\n";
    }
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string kind_;
  std::string filter_;
};

class DeleteCommand : public Command {
 public:
  explicit DeleteCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.String("kind", &kind_, "string", "The kind of configuration to delete.");
    flags_.String("name", &name_, "string", "The name of configuration to delete.");
    flags_.Bool("cas", &cas_, kCasUsage);
    flags_.Uint("modify-index", &modify_index_, "uint", kModifyIndexUsage);
  }

  std::string Synopsis() const override { return "Delete a centralized config entry"; }
  std::string Help() const override {
    return "Usage: gangway config delete [options] -kind <config kind> -name <config name>\n\n"
           "  Deletes the configuration entry specified by the kind and name.\n\n"
           "  Example:\n\n"
           "    $ gangway config delete -kind service-defaults -name web\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (kind_.empty()) return Fail(env_, "Must specify the -kind parameter");
    if (name_.empty()) return Fail(env_, "Must specify the -name parameter");
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    Params params;
    if (cas_) params.emplace_back("cas", std::to_string(modify_index_));
    auto res = client->Delete(EntryPath(kind_, name_), params);
    if (!res.ok()) {
      return Fail(env_, "Error deleting config entry " + kind_ + "/" + name_ + ": " +
                            res.status().message());
    }
    // A plain delete answers {}; only a cas one says whether it deleted.
    if (cas_ && Trim(*res) != "true") {
      return Fail(env_, "Config entry not deleted: " + kind_ + "/" + name_);
    }
    *env_.out << "Config entry deleted: " << kind_ << "/" << name_ << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string kind_;
  std::string name_;
  bool cas_ = false;
  uint64_t modify_index_ = 0;
};

}  // namespace

std::unique_ptr<Command> NewConfigCommand(Environment&) {
  return NewParentCommand(
      "Interact with Gangway's Centralized Configurations",
      "Usage: gangway config <subcommand> [options] [args]\n\n"
      "  This command has subcommands for interacting with Gangway's Centralized\n"
      "  Configuration system. Here are some simple examples, and more detailed\n"
      "  examples are available in the subcommands or the documentation.\n\n"
      "  Write a config:\n\n"
      "    $ gangway config write web.serviceconf.hcl\n\n"
      "  Read a config:\n\n"
      "    $ gangway config read -kind service-defaults -name web\n\n"
      "  List all configs for a type:\n\n"
      "    $ gangway config list -kind service-defaults\n\n"
      "  Delete a config:\n\n"
      "    $ gangway config delete -kind service-defaults -name web\n\n"
      "  For more examples, ask for subcommand help or view the documentation.");
}
std::unique_ptr<Command> NewConfigWriteCommand(Environment& env) {
  return std::make_unique<WriteCommand>(env);
}
std::unique_ptr<Command> NewConfigReadCommand(Environment& env) {
  return std::make_unique<ReadCommand>(env);
}
std::unique_ptr<Command> NewConfigListCommand(Environment& env) {
  return std::make_unique<ListCommand>(env);
}
std::unique_ptr<Command> NewConfigDeleteCommand(Environment& env) {
  return std::make_unique<DeleteCommand>(env);
}

}  // namespace gangway::cli
