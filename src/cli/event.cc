// gangway event: fires a user event across the datacenter (PUT /v1/event/fire/<name>), as
// `consul event` does.
#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"
#include "core/regexp.h"

namespace gangway::cli {

namespace {

class EventCommand : public Command {
 public:
  explicit EventCommand(Environment& env) : env_(env) {
    flags_.String("name", &name_, "string", "Name of the event.");
    flags_.String("node", &node_, "string", "Regular expression to filter on node names.");
    flags_.String("service", &service_, "string",
                  "Regular expression to filter on service instances.");
    flags_.String("tag", &tag_, "string",
                  "Regular expression to filter on service tags. Must be used with -service.");
    http_.Register(&flags_, false);
  }

  std::string Synopsis() const override { return "Fire a new event"; }
  std::string Help() const override {
    return "Usage: gangway event [options] [payload]\n\n"
           "  Dispatches a custom user event across a datacenter. An event must provide\n"
           "  a name, but a payload is optional. Events support filtering using\n"
           "  regular expressions on node name, service, and tag definitions.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (name_.empty()) {
      *env_.err << "Event name must be specified\n\n" << Help() << "\n";
      return 1;
    }
    const std::pair<const std::string*, const char*> filters[] = {
        {&node_, "node"}, {&service_, "service"}, {&tag_, "tag"}};
    for (const auto& [pattern, what] : filters) {
      if (pattern->empty()) continue;
      if (auto re = Regexp::Compile(*pattern); !re.ok()) {
        *env_.err << "Failed to compile " << what << " filter regexp: " << re.status().message()
                  << "\n";
        return 1;
      }
    }
    if (!tag_.empty() && service_.empty()) {
      *env_.err << "Cannot provide tag filter without service filter.\n";
      return 1;
    }
    const auto& rest = flags_.Args();
    if (rest.size() > 1) {
      *env_.err << "Too many command line arguments.\n\n" << Help() << "\n";
      return 1;
    }
    std::string payload = rest.empty() ? std::string() : rest[0];

    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    // As Consul: make sure an agent answers before firing.
    if (auto self = client->GetJson("/v1/agent/self"); !self.ok()) {
      *env_.err << "Error querying Gangway agent: " << self.status().message() << "\n";
      return 1;
    }
    Params params;
    if (!node_.empty()) params.emplace_back("node", node_);
    if (!service_.empty()) params.emplace_back("service", service_);
    if (!tag_.empty()) params.emplace_back("tag", tag_);
    auto r = client->Put("/v1/event/fire/" + EscapePathSegment(name_), params, payload);
    if (!r.ok()) {
      *env_.err << "Error firing event: " << r.status().message() << "\n";
      return 1;
    }
    Json event = Json::parse(*r, nullptr, false);
    std::string id = JsonString(event, "ID");
    if (id.empty()) {
      *env_.err << "Error firing event: the agent's answer has no event ID: " << *r << "\n";
      return 1;
    }
    *env_.out << "Event ID: " << id << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  std::string name_, node_, service_, tag_;
};

}  // namespace

std::unique_ptr<Command> NewEventCommand(Environment& env) {
  return std::make_unique<EventCommand>(env);
}

}  // namespace gangway::cli
