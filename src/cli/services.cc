// gangway services register|deregister: local service registration through the agent
// (PUT /v1/agent/service/register, /v1/agent/service/deregister/<id>), from service definition
// files (HCL or JSON) or flags. And "gangway services" alone, the tutorial's listing, which Consul
// does not have: the catalog's services with their kinds, and a note naming the Consul form.
#include <map>
#include <set>

#include "catalog/service_definition.h"
#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"
#include "cli/table.h"
#include "codec/document.h"

namespace gangway::cli {

namespace {

int ConnectError(Environment& env, const Status& st) {
  *env.err << "Error connecting to Gangway agent: " << st.message() << "\n";
  return 1;
}

void CollectNotes(const catalog::ServiceRegistration& reg, std::vector<std::string>* notes) {
  for (const auto& n : reg.notes) notes->push_back(n);
  if (reg.sidecar) CollectNotes(*reg.sidecar, notes);
}

// Reads and decodes service definition files, printing "note: ..." lines for forms Gangway
// accepts and Consul does not (comments in JSON, the tutorial's kinds and keys).
Result<std::vector<catalog::ServiceRegistration>> LoadServiceFiles(
    const std::vector<std::string>& files, Environment& env) {
  std::vector<catalog::ServiceRegistration> out;
  for (const auto& file : files) {
    auto doc = codec::ParseConfigFile(file);
    if (!doc.ok()) return doc.status();
    auto regs = catalog::DecodeServicesFile(*doc);
    if (!regs.ok()) return regs.status();
    std::vector<std::string> notes;
    for (const auto& r : *regs) CollectNotes(r, &notes);
    bool comment_noted = false;
    for (const auto& n : notes) comment_noted |= n.find("comment") != std::string::npos;
    if (doc->json_had_comments && !comment_noted) {
      notes.insert(notes.begin(), file +
                                      ": '#' comments are not valid JSON; Gangway accepted them "
                                      "(use .hcl to keep comments)");
    }
    std::set<std::string> printed;
    for (const auto& n : notes) {
      if (printed.insert(n).second) *env.err << "note: " << n << "\n";
    }
    for (auto& r : *regs) out.push_back(std::move(r));
  }
  return out;
}

class RegisterCommand : public Command {
 public:
  explicit RegisterCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.String("address", &address_, "addr",
                  "Address of the service. If this isn't specified, it will default to the "
                  "address registered with the local agent.");
    flags_.String("id", &id_, "id",
                  "ID of the service to register for arg-based registration. If this isn't "
                  "set, it will default to the name.");
    flags_.StringList("meta", &meta_, "key=value",
                      "Metadata to set on the service, formatted as key=value. This flag may be "
                      "specified multiple times to set multiple meta fields.");
    flags_.String("name", &name_, "name",
                  "Name of the service to register for arg-based "
                  "registration.");
    flags_.Int("port", &port_, "port", "Port of the service.");
    flags_.String("socket", &socket_, "path",
                  "Path to the Unix domain socket to use for the service.");
    flags_.StringList("tag", &tags_, "value",
                      "Tag to add to the service. This flag can be specified multiple times to "
                      "set multiple tags.");
    flags_.StringList("tagged-address", &tagged_, "key=address:port",
                      "Tagged address to set on the service, formatted as key=address:port. "
                      "This flag may be specified multiple times to set multiple addresses.");
  }

  std::string Synopsis() const override { return "Register services with the local agent"; }
  std::string Help() const override {
    return "Usage: gangway services register [options] [FILE...]\n\n"
           "  Register one or more services using the local agent API. Services can\n"
           "  be registered from standard Gangway configuration files (HCL or JSON) or\n"
           "  using flags. The service is registered and the command returns. The caller\n"
           "  must remember to call \"gangway services deregister\" or a similar API to\n"
           "  deregister the service when complete.\n\n"
           "      $ gangway services register web.json\n\n"
           "  Additional flags and more advanced use cases are detailed below.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    std::vector<Json> bodies;
    std::vector<std::string> names;
    if (!flags_.Args().empty()) {
      auto regs = LoadServiceFiles(flags_.Args(), env_);
      if (!regs.ok()) {
        *env_.err << "Error: " << regs.status().message() << "\n";
        return 1;
      }
      for (const auto& r : *regs) {
        bodies.push_back(catalog::ServiceRegistrationToApiJson(r));
        names.push_back(r.service.service);
      }
    } else {
      auto body = FromFlags();
      if (!body.ok()) {
        *env_.err << "Error: " << body.status().message() << "\n";
        return 1;
      }
      bodies.push_back(std::move(*body));
      names.push_back(name_);
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    for (size_t i = 0; i < bodies.size(); ++i) {
      auto r = client->Put("/v1/agent/service/register", {}, bodies[i].dump());
      if (!r.ok()) {
        *env_.err << "Error registering service \"" << names[i] << "\": " << r.status().message()
                  << "\n";
        return 1;
      }
      *env_.out << "Registered service: " << names[i] << "\n";
    }
    return 0;
  }

 private:
  Result<Json> FromFlags() const {
    if (name_.empty()) {
      return InvalidArgument("a service name (-name) or a service definition file is required");
    }
    Json j = {{"Name", name_}};
    if (!id_.empty()) j["ID"] = id_;
    if (!tags_.empty()) j["Tags"] = tags_;
    if (!address_.empty()) j["Address"] = address_;
    if (port_ != 0) j["Port"] = port_;
    if (!socket_.empty()) j["SocketPath"] = socket_;
    if (!meta_.empty()) {
      Json meta = Json::object();
      for (const auto& kv : meta_) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos) return InvalidArgument("Missing = in argument: " + kv);
        meta[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      j["Meta"] = std::move(meta);
    }
    if (!tagged_.empty()) {
      Json ta = Json::object();
      for (const auto& t : tagged_) {
        size_t eq = t.find('=');
        size_t colon = t.rfind(':');
        int64_t port = 0;
        if (eq == std::string::npos || colon == std::string::npos || colon < eq ||
            !ParseGoInt(t.substr(colon + 1), &port) || port < 0 || port > 65535) {
          return InvalidArgument("invalid -tagged-address " + t + ": expected key=address:port");
        }
        ta[t.substr(0, eq)] = {{"Address", t.substr(eq + 1, colon - eq - 1)}, {"Port", port}};
      }
      j["TaggedAddresses"] = std::move(ta);
    }
    return j;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string address_;
  std::string id_;
  std::vector<std::string> meta_;
  std::string name_;
  int64_t port_ = 0;
  std::string socket_;
  std::vector<std::string> tags_;
  std::vector<std::string> tagged_;
};

class DeregisterCommand : public Command {
 public:
  explicit DeregisterCommand(Environment& env) : env_(env) {
    http_.Register(&flags_, false);
    flags_.String("id", &id_, "id",
                  "ID to deregister. This must not be set if arguments are "
                  "given.");
  }

  std::string Synopsis() const override { return "Deregister services with the local agent"; }
  std::string Help() const override {
    return "Usage: gangway services deregister [options] [FILE...]\n\n"
           "  Deregister one or more services that were previously registered with\n"
           "  the local agent.\n\n"
           "      $ gangway services deregister web.json\n\n"
           "  The -id flag may be used to deregister a single service by ID:\n\n"
           "      $ gangway services deregister -id=web\n\n"
           "  Services are deregistered from the local agent catalog. This command must\n"
           "  be run against the same agent where the service was registered.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    std::vector<std::string> ids;
    if (!flags_.Args().empty()) {
      if (!id_.empty()) {
        *env_.err << "Error: Can't specify both -id and file arguments\n";
        return 1;
      }
      auto regs = LoadServiceFiles(flags_.Args(), env_);
      if (!regs.ok()) {
        *env_.err << "Error: " << regs.status().message() << "\n";
        return 1;
      }
      for (const auto& r : *regs) {
        ids.push_back(r.service.id.empty() ? r.service.service : r.service.id);
      }
    } else if (id_.empty()) {
      *env_.err << "Error: Must specify -id or file arguments\n";
      return 1;
    } else {
      ids.push_back(id_);
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    for (const auto& id : ids) {
      auto r = client->Put("/v1/agent/service/deregister/" + EscapePathSegment(id));
      if (!r.ok()) {
        *env_.err << "Error deregistering service \"" << id << "\": " << r.status().message()
                  << "\n";
        return 1;
      }
      *env_.out << "Deregistered service: " << id << "\n";
    }
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string id_;
};

// "gangway services": the tutorial's listing form.
class ServicesListCommand : public Command {
 public:
  explicit ServicesListCommand(Environment& env) : env_(env) { http_.Register(&flags_); }

  std::string Synopsis() const override { return "Interact with services"; }
  std::string Help() const override {
    return "Usage: gangway services <subcommand> [options] [args]\n\n"
           "  This command has subcommands for interacting with services. The subcommands\n"
           "  default to working with services registered with the local agent. Please see\n"
           "  the \"gangway catalog\" command for interacting with the entire catalog.\n\n"
           "  To register a service:\n\n"
           "      $ gangway services register web.json\n\n"
           "  To deregister a service:\n\n"
           "      $ gangway services deregister web.json\n\n"
           "  Without a subcommand (a Gangway extension, for the tutorial's \"consul services\"),\n"
           "  lists the catalog's services with their kind, instance count and tags. Consul's\n"
           "  form is \"gangway catalog services\".\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Unknown subcommand \"" << flags_.Args()[0]
                << "\" (expected \"register\" or \"deregister\")\n\n"
                << Help() << "\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return ConnectError(env_, client.status());
    auto all = client->GetJson("/v1/catalog/services");
    if (!all.ok()) {
      *env_.err << "Error listing services: " << all.status().message() << "\n";
      return 1;
    }
    std::vector<Row> rows = {{"Service", "Kind", "Instances", "Tags"}};
    if (all->is_object()) {
      for (auto it = all->begin(); it != all->end(); ++it) {
        auto instances = client->GetJson("/v1/catalog/service/" + EscapePathSegment(it.key()));
        if (!instances.ok()) {
          *env_.err << "Error listing service " << it.key() << ": " << instances.status().message()
                    << "\n";
          return 1;
        }
        std::set<std::string> kinds;
        size_t count = 0;
        if (instances->is_array()) {
          count = instances->size();
          for (const auto& i : *instances) {
            std::string k = JsonString(i, "ServiceKind");
            kinds.insert(k.empty() ? "typical" : k);
          }
        }
        if (kinds.empty()) kinds.insert("typical");
        std::string kind, tags;
        for (const auto& k : kinds) kind += (kind.empty() ? "" : ",") + k;
        std::set<std::string> tagset;
        if (it->is_array()) {
          for (const auto& t : *it) {
            if (t.is_string()) tagset.insert(t.get<std::string>());
          }
        }
        for (const auto& t : tagset) tags += (tags.empty() ? "" : ",") + t;
        rows.push_back({it.key(), kind, std::to_string(count), tags});
      }
    }
    if (rows.size() == 1) {
      *env_.err << "No services match the given query - try expanding your search.\n";
    } else {
      *env_.out << Columnize(rows) << "\n";
    }
    *env_.err << "note: \"gangway services\" is a Gangway listing; the Consul form is \"gangway "
                 "catalog services\"\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewServicesCommand(Environment& env) {
  return std::make_unique<ServicesListCommand>(env);
}
std::unique_ptr<Command> NewServicesRegisterCommand(Environment& env) {
  return std::make_unique<RegisterCommand>(env);
}
std::unique_ptr<Command> NewServicesDeregisterCommand(Environment& env) {
  return std::make_unique<DeregisterCommand>(env);
}

}  // namespace gangway::cli
