// gangway rtt [-wan] node1 [node2]: the estimated round-trip time between two nodes from their
// network coordinates (GET /v1/coordinate/nodes, or /v1/coordinate/datacenters with -wan), as
// `consul rtt` prints it.
#include <cmath>
#include <cstdio>
#include <optional>

#include "catalog/json.h"
#include "cli/api_client.h"
#include "cli/command.h"
#include "coordinate/coordinate.h"
#include "core/flags.h"

namespace gangway::cli {

namespace {

using catalog::Json;

class RttCommand : public Command {
 public:
  explicit RttCommand(Environment& env) : env_(env) {
    flags_.Bool("wan", &wan_,
                "Use WAN coordinates instead of LAN coordinates. With -wan, nodes are named "
                "<node name>.<datacenter>.");
    http_.Register(&flags_, false);
  }

  std::string Synopsis() const override { return "Estimates network round trip time between nodes"; }
  std::string Help() const override {
    return "Usage: gangway rtt [options] node1 [node2]\n\n"
           "  Estimates the round trip time between two nodes using Gangway's network\n"
           "  coordinate model of the cluster. If only one node is given, the local agent's\n"
           "  node is the second. With -wan, node names are <node name>.<datacenter>.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    std::vector<std::string> nodes = flags_.Args();
    if (nodes.empty() || nodes.size() > 2) {
      *env_.err << "One or two node names must be specified\n";
      return 1;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      *env_.err << "Error connecting to Gangway agent: " << client.status().message() << "\n";
      return 1;
    }
    if (nodes.size() == 1) {
      auto self = client->GetJson("/v1/agent/self");
      if (!self.ok()) {
        *env_.err << "Unable to look up agent info: " << self.status().message() << "\n";
        return 1;
      }
      const Json cfg = self->is_object() && self->contains("Config") && (*self)["Config"].is_object()
                           ? (*self)["Config"]
                           : Json::object();
      std::string name = cfg.value("NodeName", "");
      if (wan_) name += "." + cfg.value("Datacenter", "");
      nodes.push_back(name);
    }
    std::optional<coordinate::Coordinate> a, b;
    if (wan_) {
      for (const auto& n : nodes) {
        if (n.find('.') == std::string::npos) {
          *env_.err << "Node names must be specified as <node name>.<datacenter> with -wan\n";
          return 1;
        }
      }
      auto dcs = client->GetJson("/v1/coordinate/datacenters");
      if (!dcs.ok()) {
        *env_.err << "Error getting coordinates: " << dcs.status().message() << "\n";
        return 1;
      }
      a = FindWan(*dcs, nodes[0]);
      b = FindWan(*dcs, nodes[1]);
    } else {
      auto list = client->GetJson("/v1/coordinate/nodes");
      if (!list.ok()) {
        *env_.err << "Error getting coordinates: " << list.status().message() << "\n";
        return 1;
      }
      // The first segment both nodes have (the default one first, as the list is sorted).
      std::vector<std::pair<std::string, coordinate::Coordinate>> ca = FindLan(*list, nodes[0]),
                                                                   cb = FindLan(*list, nodes[1]);
      for (const auto& [seg_a, x] : ca) {
        for (const auto& [seg_b, y] : cb) {
          if (!a && seg_a == seg_b) {
            a = x;
            b = y;
          }
        }
      }
      if (!a && !ca.empty() && !cb.empty()) {
        *env_.err << "No matching segments found for nodes\n";
        return 1;
      }
      if (ca.empty()) return NotFound(nodes[0]);
      if (cb.empty()) return NotFound(nodes[1]);
    }
    if (!a) return NotFound(nodes[0]);
    if (!b) return NotFound(nodes[1]);
    if (!a->IsCompatibleWith(*b)) {
      *env_.err << "Coordinates are not compatible\n";
      return 1;
    }
    // Go prints a time.Duration (whole nanoseconds) in milliseconds.
    const double ns = std::floor(a->DistanceTo(*b) * 1e9);
    char ms[64];
    std::snprintf(ms, sizeof ms, "%.3f", ns / 1e6);
    *env_.out << "Estimated " << nodes[0] << " <-> " << nodes[1] << " rtt: " << ms
              << " ms (using " << (wan_ ? "WAN" : "LAN") << " coordinates)\n";
    return 0;
  }

 private:
  int NotFound(const std::string& node) {
    *env_.err << "Could not find a coordinate for node \"" << node << "\"\n";
    return 1;
  }

  static std::optional<coordinate::Coordinate> Decode(const Json& row) {
    if (!row.is_object() || !row.contains("Coord")) return std::nullopt;
    coordinate::Coordinate c;
    if (!catalog::DecodeCoordinateAt(row["Coord"], "Coord", &c).ok()) return std::nullopt;
    return c;
  }

  static std::vector<std::pair<std::string, coordinate::Coordinate>> FindLan(
      const Json& list, const std::string& node) {
    std::vector<std::pair<std::string, coordinate::Coordinate>> out;
    if (!list.is_array()) return out;
    for (const auto& row : list) {
      if (!row.is_object() || row.value("Node", "") != node) continue;
      if (auto c = Decode(row)) out.emplace_back(row.value("Segment", ""), *c);
    }
    return out;
  }

  static std::optional<coordinate::Coordinate> FindWan(const Json& dcs, const std::string& name) {
    const size_t dot = name.rfind('.');
    const std::string node = name.substr(0, dot), dc = name.substr(dot + 1);
    if (!dcs.is_array()) return std::nullopt;
    for (const auto& m : dcs) {
      if (!m.is_object() || m.value("Datacenter", "") != dc) continue;
      const auto it = m.find("Coordinates");
      if (it == m.end() || !it->is_array()) continue;
      for (const auto& row : *it) {
        if (row.is_object() && row.value("Node", "") == node) return Decode(row);
      }
    }
    return std::nullopt;
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  bool wan_ = false;
};

}  // namespace

std::unique_ptr<Command> NewRttCommand(Environment& env) {
  return std::make_unique<RttCommand>(env);
}

}  // namespace gangway::cli
