// gangway catalog datacenters|nodes|services: read-only views of the catalog
// (/v1/catalog/...), laid out as Consul's "consul catalog" prints them.
#include <algorithm>
#include <map>
#include <set>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"
#include "cli/table.h"

namespace gangway::cli {

namespace {

// -node-meta key=value, sent as Consul's ?node-meta=key:value.
void RegisterNodeMeta(FlagSet* flags, Params* params) {
  flags->Custom(
      "node-meta", false,
      [params](std::string_view v) {
        size_t eq = v.find('=');
        if (eq == std::string_view::npos) {
          return InvalidArgument("missing \"=\" in argument: " + std::string(v));
        }
        params->emplace_back("node-meta",
                             std::string(v.substr(0, eq)) + ":" + std::string(v.substr(eq + 1)));
        return Status::Ok();
      },
      "key=value",
      "Metadata to filter nodes with the given key=value pairs. This flag may be specified "
      "multiple times to filter on multiple sources of metadata.");
}

int TooManyArgs(Environment& env, size_t got) {
  *env.err << "Too many arguments (expected 0, got " << got << ")\n";
  return 1;
}

class DatacentersCommand : public Command {
 public:
  explicit DatacentersCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override { return "Lists all known datacenters"; }
  std::string Help() const override {
    return "Usage: gangway catalog datacenters [options]\n\n"
           "  Retrieves the list of all known datacenters. This datacenters are sorted in\n"
           "  ascending order based on the estimated median round trip time from the servers\n"
           "  in this datacenter to the servers in the other datacenters.\n\n"
           "  List all datacenters:\n\n"
           "      $ gangway catalog datacenters\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) return TooManyArgs(env_, flags_.Args().size());
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    auto dcs = client->GetJson("/v1/catalog/datacenters");
    if (!dcs.ok()) {
      *env_.err << "Error listing datacenters: " << dcs.status().message() << "\n";
      return 1;
    }
    if (!dcs->is_array() || dcs->empty()) {
      *env_.err << "No datacenters found\n";
      return 1;
    }
    for (const auto& dc : *dcs) {
      if (dc.is_string()) *env_.out << dc.get<std::string>() << "\n";
    }
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

class NodesCommand : public Command {
 public:
  explicit NodesCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.Bool("detailed", &detailed_,
                "Output detailed information about the nodes including their addresses and "
                "metadata.");
    flags_.String("near", &near_, "node-name",
                  "Node name to sort the node list in ascending order based on estimated "
                  "round-trip time from that node. Passing \"_agent\" will use this agent's "
                  "node for sorting.");
    RegisterNodeMeta(&flags_, &params_);
    flags_.String("service", &service_, "id or name",
                  "Service id or name to filter nodes. Only nodes which are providing the given "
                  "service will be returned.");
    flags_.String("filter", &filter_, "filter-expression", "Filter to use with the request");
  }

  std::string Synopsis() const override { return "Lists all nodes in the given datacenter"; }
  std::string Help() const override {
    return "Usage: gangway catalog nodes [options]\n\n"
           "  Retrieves the list nodes registered in a given datacenter. By default, the\n"
           "  datacenter of the local agent is queried.\n\n"
           "  To retrieve the list of nodes:\n\n"
           "      $ gangway catalog nodes\n\n"
           "  To print detailed information including full node IDs, tagged addresses, and\n"
           "  metadata information:\n\n"
           "      $ gangway catalog nodes -detailed\n\n"
           "  To list nodes which are running a particular service:\n\n"
           "      $ gangway catalog nodes -service=web\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) return TooManyArgs(env_, flags_.Args().size());
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    Params params = params_;
    if (!near_.empty()) params.emplace_back("near", near_);
    if (!filter_.empty()) params.emplace_back("filter", filter_);
    Result<Json> nodes =
        service_.empty()
            ? client->GetJson("/v1/catalog/nodes", params)
            : client->GetJson("/v1/catalog/service/" + EscapePathSegment(service_), params);
    if (!nodes.ok()) {
      *env_.err << "Error listing nodes: " << nodes.status().message() << "\n";
      return 1;
    }
    if (!nodes->is_array() || nodes->empty()) {
      *env_.err << "No nodes match the given query - try expanding your search.\n";
      return 0;
    }
    std::vector<Row> rows;
    Row header = {"Node", "ID", "Address", "DC"};
    if (detailed_) {
      header.push_back("TaggedAddresses");
      header.push_back("Meta");
    }
    rows.push_back(header);
    // Service rows carry the node's fields under the same names, except Meta is NodeMeta.
    const char* meta_key = service_.empty() ? "Meta" : "NodeMeta";
    for (const auto& n : *nodes) {
      std::string id = JsonString(n, "ID");
      if (!detailed_) {
        if (size_t dash = id.find('-'); dash != std::string::npos && dash > 0) id.resize(dash);
      }
      Row r = {JsonString(n, "Node"), id, JsonString(n, "Address"), JsonString(n, "Datacenter")};
      if (detailed_) {
        r.push_back(JoinMap(JsonObject(n, "TaggedAddresses"), ", "));
        r.push_back(JoinMap(JsonObject(n, meta_key), ", "));
      }
      rows.push_back(std::move(r));
    }
    *env_.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool detailed_ = false;
  std::string near_;
  std::string service_;
  std::string filter_;
  Params params_;
};

class ServicesCommand : public Command {
 public:
  explicit ServicesCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.String("node", &node_, "node-id or name", "Node id or name for which to list services.");
    RegisterNodeMeta(&flags_, &params_);
    flags_.Bool("tags", &tags_,
                "Display each service's tags as a comma-separated list beside each service "
                "entry.");
    flags_.String("filter", &filter_, "filter-expression", "Filter to use with the request");
  }

  std::string Synopsis() const override { return "Lists all registered services in a datacenter"; }
  std::string Help() const override {
    return "Usage: gangway catalog services [options]\n\n"
           "  Retrieves the list services registered in a given datacenter. By default, the\n"
           "  datacenter of the local agent is queried.\n\n"
           "  To retrieve the list of services:\n\n"
           "      $ gangway catalog services\n\n"
           "  To include the services' tags in the output:\n\n"
           "      $ gangway catalog services -tags\n\n"
           "  To list services which run on a particular node:\n\n"
           "      $ gangway catalog services -node=web\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) return TooManyArgs(env_, flags_.Args().size());
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    Params params = params_;
    if (!filter_.empty()) params.emplace_back("filter", filter_);
    std::map<std::string, std::set<std::string>> services;
    if (!node_.empty()) {
      auto node = client->GetJson("/v1/catalog/node/" + EscapePathSegment(node_), params);
      if (!node.ok()) {
        *env_.err << "Error listing services for node: " << node.status().message() << "\n";
        return 1;
      }
      const Json& svcs = JsonObject(*node, "Services");
      for (const auto& s : svcs) {
        auto& tags = services[JsonString(s, "Service")];
        if (auto t = s.find("Tags"); t != s.end() && t->is_array()) {
          for (const auto& tag : *t) {
            if (tag.is_string()) tags.insert(tag.get<std::string>());
          }
        }
      }
    } else {
      auto all = client->GetJson("/v1/catalog/services", params);
      if (!all.ok()) {
        *env_.err << "Error listing services: " << all.status().message() << "\n";
        return 1;
      }
      if (all->is_object()) {
        for (auto it = all->begin(); it != all->end(); ++it) {
          auto& tags = services[it.key()];
          if (!it->is_array()) continue;
          for (const auto& tag : *it) {
            if (tag.is_string()) tags.insert(tag.get<std::string>());
          }
        }
      }
    }
    if (services.empty()) {
      *env_.err << "No services match the given query - try expanding your search.\n";
      return 0;
    }
    if (!tags_) {
      for (const auto& [name, tags] : services) *env_.out << name << "\n";
      return 0;
    }
    std::vector<Row> rows;
    for (const auto& [name, tags] : services) {
      std::string joined;
      for (const auto& t : tags) joined += (joined.empty() ? "" : ",") + t;
      rows.push_back({name, joined});
    }
    *env_.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string node_;
  bool tags_ = false;
  std::string filter_;
  Params params_;
};

}  // namespace

std::unique_ptr<Command> NewCatalogCommand(Environment&) {
  return NewParentCommand(
      "Interact with the catalog",
      "Usage: gangway catalog <subcommand> [options] [args]\n\n"
      "  This command has subcommands for interacting with Gangway's catalog. The\n"
      "  catalog should not be confused with the agent, although the APIs and\n"
      "  responses may be similar.\n\n"
      "  Here are some simple examples, and more detailed examples are available\n"
      "  in the subcommands or the documentation.\n\n"
      "  List all datacenters:\n\n"
      "      $ gangway catalog datacenters\n\n"
      "  List all nodes:\n\n"
      "      $ gangway catalog nodes\n\n"
      "  List all services:\n\n"
      "      $ gangway catalog services\n\n"
      "  For more examples, ask for subcommand help or view the documentation.");
}

std::unique_ptr<Command> NewCatalogDatacentersCommand(Environment& env) {
  return std::make_unique<DatacentersCommand>(env);
}

std::unique_ptr<Command> NewCatalogNodesCommand(Environment& env) {
  return std::make_unique<NodesCommand>(env);
}

std::unique_ptr<Command> NewCatalogServicesCommand(Environment& env) {
  return std::make_unique<ServicesCommand>(env);
}

}  // namespace gangway::cli
