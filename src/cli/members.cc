// gangway members: the gossip pool as this agent sees it (GET /v1/agent/members).
#include "cli/members.h"

#include <algorithm>

#include "cli/command.h"
#include "core/flags.h"
#include "cli/table.h"
#include "core/regexp.h"

namespace gangway::cli {

namespace {

std::string Tag(const Json& m, const char* key) {
  auto it = m.find("Tags");
  if (it == m.end()) return "";
  return JsonString(*it, key);
}

std::string MemberAddress(const Json& m) {
  std::string addr = JsonString(m, "Addr");
  std::string port = std::to_string(JsonInt(m, "Port"));
  if (addr.find(':') != std::string::npos) return "[" + addr + "]:" + port;
  return addr + ":" + port;
}

Row StandardRow(const Json& m) {
  std::string build = Tag(m, "build");
  if (build.empty()) {
    build = "< 0.3";
  } else if (size_t colon = build.find(':'); colon != std::string::npos) {
    build.resize(colon);
  }
  std::string partition = Tag(m, "ap");
  if (partition.empty()) partition = "default";
  std::string status = MemberStatusName(JsonInt(m, "Status"));
  std::string role = Tag(m, "role");
  std::string name = JsonString(m, "Name");
  if (role == "consul") {
    return {name,          MemberAddress(m), status,    "server", build,
            Tag(m, "vsn"), Tag(m, "dc"),     partition, "<all>"};
  }
  if (role == "node") {
    std::string segment = Tag(m, "segment");
    if (segment.empty()) segment = "<default>";
    return {name,          MemberAddress(m), status,    "client", build,
            Tag(m, "vsn"), Tag(m, "dc"),     partition, segment};
  }
  // Not a Consul/Gangway agent (a plain serf agent, say): Consul leaves the rest blank.
  return {name, MemberAddress(m), status, "unknown", "", "", "", "", ""};
}

}  // namespace

std::string MemberStatusName(int64_t status) {
  switch (status) {
    case 0:
      return "none";
    case 1:
      return "alive";
    case 2:
      return "leaving";
    case 3:
      return "left";
    case 4:
      return "failed";
    default:
      return "unknown";
  }
}

Result<std::string> FormatMembers(const Json& members, bool detailed,
                                  const std::string& status_regexp) {
  auto re = Regexp::Compile(status_regexp);
  if (!re.ok()) return InvalidArgument("Failed to compile status regexp: " + re.status().message());
  std::vector<const Json*> list;
  if (members.is_array()) {
    for (const auto& m : members) {
      if (!m.is_object()) continue;
      if (!re->Search(MemberStatusName(JsonInt(m, "Status")))) continue;
      list.push_back(&m);
    }
  }
  if (list.empty()) return std::string();
  std::stable_sort(list.begin(), list.end(), [](const Json* a, const Json* b) {
    bool sa = Tag(*a, "role") == "consul", sb = Tag(*b, "role") == "consul";
    if (sa != sb) return sa;
    std::string pa = Tag(*a, "ap"), pb = Tag(*b, "ap");
    if (pa != pb) return pa < pb;
    std::string ga = Tag(*a, "segment"), gb = Tag(*b, "segment");
    if (ga != gb) return ga < gb;
    return JsonString(*a, "Name") < JsonString(*b, "Name");
  });
  std::vector<Row> rows;
  if (detailed) {
    rows.push_back({"Node", "Address", "Status", "Tags"});
    for (const Json* m : list) {
      auto tags = m->find("Tags");
      rows.push_back({JsonString(*m, "Name"), MemberAddress(*m),
                      MemberStatusName(JsonInt(*m, "Status")),
                      tags == m->end() ? "" : JoinMap(*tags, ",")});
    }
  } else {
    rows.push_back(
        {"Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"});
    for (const Json* m : list) rows.push_back(StandardRow(*m));
  }
  return Columnize(rows);
}

namespace {

class MembersCommand : public Command {
 public:
  explicit MembersCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.Bool("detailed", &detailed_, "Provides detailed information about nodes.");
    flags_.Bool("wan", &wan_,
                "If the agent is in server mode, this can be used to return the other peers "
                "in the WAN pool.");
    flags_.String("status", &status_, "regexp",
                  "If provided, output is filtered to only nodes matching the regular "
                  "expression for status.");
    flags_.String("segment", &segment_, "string",
                  "(Enterprise-only) If provided, output is filtered to only nodes in the given "
                  "segment.");
    flags_.String("partition", &partition_, "default",
                  "(Enterprise-only) Specifies the admin partition to query.");
  }

  std::string Synopsis() const override { return "Lists the members of a Gangway cluster"; }
  std::string Help() const override {
    return "Usage: gangway members [options]\n\n"
           "  Outputs the members of a running Gangway agent.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    Params params;
    if (wan_) {
      params.emplace_back("wan", "1");
    } else if (!segment_.empty()) {
      params.emplace_back("segment", segment_);
    }
    auto members = client->GetJson("/v1/agent/members", params);
    if (!members.ok()) {
      *env_.err << "Error retrieving members: " << members.status().message() << "\n";
      return 1;
    }
    auto table = FormatMembers(*members, detailed_, status_);
    if (!table.ok()) {
      *env_.err << table.status().message() << "\n";
      return 1;
    }
    if (table->empty()) return 2;  // nothing matched, as Consul
    *env_.out << *table << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool detailed_ = false;
  bool wan_ = false;
  std::string status_ = ".*";
  std::string segment_;
  std::string partition_;
};

}  // namespace

std::unique_ptr<Command> NewMembersCommand(Environment& env) {
  return std::make_unique<MembersCommand>(env);
}

}  // namespace gangway::cli
