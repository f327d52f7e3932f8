// Snapshots of the state store (Raft snapshot and restore): the encoder that writes the tables
// straight to MessagePack, the JSON-tree encoder it is held to, the decoder with its consistency
// checks, SnapshotCopy, and the restore log command. The format: one version byte, then
// MessagePack (docs/state-store-commands.md). Store::Impl is in internal/store_impl.h.
#include <memory>
#include <set>
#include <stop_token>
#include <string>

#include "catalog/internal/json_forms.h"
#include "catalog/json.h"
#include "catalog/internal/msgpack_writer.h"
#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::Form;
using internal::Quote;
using internal::Rejected;

namespace {

constexpr uint8_t kSnapshotVersion = 1;
constexpr int kSnapshotMaxDepth = 80;

Json IndexMap(const SortedMap<Index>& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

// Writes the snapshot document straight from the tables: the same document as SnapshotJson(),
// field for field, with every object's keys in std::map order as a JSON object holds them, so
// the bytes are those of Json::to_msgpack(SnapshotJson()) without building the tree (which
// doubled the memory and took seconds for a large store). A field added to the snapshot goes
// into both; snapshot_test.cc compares their bytes on a store that fills every field.
class SnapshotWriter {
 public:
  SnapshotWriter(std::string* out, std::stop_token stop) : w_(out), stop_(std::move(stop)) {}

  // False when stop was requested before the end.
  bool Write(const SnapshotTables& t) {
    const bool ca = !t.ca_config.is_null() || !t.ca_roots.is_null();
    const bool config = t.config_entries_index != 0;
    const bool sessions = t.sessions_index != 0;
    const bool acl = t.has_acl();
    const bool queries = t.prepared_queries_index != 0;
    const bool coordinates = t.coordinates_index != 0;
    w_.Map(9 + ca + config + sessions + acl + queries + coordinates);
    if (acl) {
      w_.Str("ACL");
      w_.Map(7);
      w_.Str("BootstrapIndex");
      w_.Uint(t.acl_bootstrap_index);
      w_.Str("Policies");
      Objects(t.acl_policies);
      w_.Str("PoliciesIndex");
      w_.Uint(t.acl_policies_index);
      w_.Str("Roles");
      Objects(t.acl_roles);
      w_.Str("RolesIndex");
      w_.Uint(t.acl_roles_index);
      w_.Str("Tokens");
      Objects(t.acl_tokens);
      w_.Str("TokensIndex");
      w_.Uint(t.acl_tokens_index);
    }
    w_.Str("Checks");
    size_t n = 0;
    for (const auto& [node, list] : t.checks) n += list.size();
    w_.Array(n);
    for (const auto& [node, list] : t.checks) {
      for (const auto& [id, c] : list) {
        Check(c);
        if (Stopped()) return false;
      }
    }
    if (config) {
      w_.Str("ConfigEntries");
      w_.Map(2);
      w_.Str("Entries");
      size_t count = 0;
      for (const auto& [kind, entries] : t.config_entries) count += entries.size();
      w_.Array(count);
      for (const auto& [kind, entries] : t.config_entries) {
        for (const auto& [name, e] : entries) {
          w_.Map(3);
          w_.Str("Entry");
          w_.Value(e);
          w_.Str("Kind");
          w_.Str(kind);
          w_.Str("Name");
          w_.Str(name);
        }
      }
      w_.Str("Index");
      w_.Uint(t.config_entries_index);
    }
    if (ca) {
      w_.Str("ConnectCA");
      w_.Map(4);
      w_.Str("Config");
      w_.Value(t.ca_config);
      w_.Str("ConfigIndex");
      w_.Uint(t.ca_config_index);
      w_.Str("Roots");
      w_.Value(t.ca_roots);
      w_.Str("RootsIndex");
      w_.Uint(t.ca_roots_index);
    }
    w_.Str("ConnectIndexes");
    IndexMap(t.connect_indexes);
    if (coordinates) {
      w_.Str("Coordinates");
      w_.Map(2);
      w_.Str("Entries");
      w_.Array(t.coordinates.size());
      for (const auto& [key, c] : t.coordinates) {
        w_.Value(CoordinateEntryToJson({key.first, key.second, c}));
      }
      w_.Str("Index");
      w_.Uint(t.coordinates_index);
    }
    w_.Str("Indexes");
    w_.Map(5);
    w_.Str("checks");
    w_.Uint(t.checks_index);
    w_.Str("kvs");
    w_.Uint(t.kvs_index);
    w_.Str("nodes");
    w_.Uint(t.nodes_index);
    w_.Str("service_extinction");
    w_.Uint(t.service_extinction_index);
    w_.Str("services");
    w_.Uint(t.services_index);
    w_.Str("KVs");
    w_.Array(t.kvs.size());
    for (const auto& [key, e] : t.kvs) {
      KV(*e);
      if (Stopped()) return false;
    }
    w_.Str("LastIndex");
    w_.Uint(t.last_index);
    w_.Str("Nodes");
    w_.Array(t.nodes.size());
    for (const auto& [name, node] : t.nodes) {
      Node(node);
      if (Stopped()) return false;
    }
    if (queries) {
      w_.Str("PreparedQueries");
      w_.Map(2);
      w_.Str("Entries");
      Objects(t.prepared_queries);
      w_.Str("Index");
      w_.Uint(t.prepared_queries_index);
    }
    w_.Str("ServiceIndexes");
    IndexMap(t.service_indexes);
    w_.Str("Services");
    n = 0;
    for (const auto& [node, instances] : t.services) n += instances.size();
    w_.Array(n);
    for (const auto& [node, instances] : t.services) {
      for (const auto& [id, svc] : instances) {
        w_.Map(2);
        w_.Str("Node");
        w_.Str(node);
        w_.Str("Service");
        Service(svc);
        if (Stopped()) return false;
      }
    }
    if (sessions) {
      w_.Str("Sessions");
      w_.Map(2);
      w_.Str("Entries");
      w_.Array(t.sessions.size());
      for (const auto& [id, sess] : t.sessions) {
        w_.Value(internal::SessionToJson(sess, Form::kStorage));
        if (Stopped()) return false;
      }
      w_.Str("Index");
      w_.Uint(t.sessions_index);
    }
    w_.Str("Tombstones");
    IndexMap(t.tombstones);
    return !stop_.stop_requested();
  }

  void Objects(const SortedMap<Json>& table) {
    w_.Array(table.size());
    for (const auto& [id, o] : table) w_.Value(o);
  }

  // What the snapshot of t will roughly take, to allocate the output once.
  static size_t Estimate(const SnapshotTables& t) {
    size_t bytes = 4096 + 64 * t.tombstones.size();
    for (const auto& [key, e] : t.kvs)
      bytes += 64 + key.size() + e->value.size() + e->session.size();
    bytes += 512 * (t.nodes.size() + t.services.size() + t.checks.size());
    return bytes;
  }

 private:
  // Checked every 1,024 records: a large store takes seconds to encode.
  bool Stopped() { return (++records_ & 1023) == 0 && stop_.stop_requested(); }

  void IndexMap(const SortedMap<Index>& m) {
    w_.Map(m.size());
    for (const auto& [k, v] : m) {
      w_.Str(k);
      w_.Uint(v);
    }
  }

  void Strings(const std::vector<std::string>& list) {
    w_.Array(list.size());
    for (const auto& s : list) w_.Str(s);
  }

  void Strings(const StringMap& m) {
    w_.Map(m.size());
    for (const auto& [k, v] : m) {
      w_.Str(k);
      w_.Str(v);
    }
  }

  // internal::NodeToJson(n, Form::kStorage)
  void Node(const catalog::Node& n) {
    w_.Map(8);
    w_.Str("Address");
    w_.Str(n.address);
    w_.Str("CreateIndex");
    w_.Uint(n.raft.create_index);
    w_.Str("Datacenter");
    w_.Str(n.datacenter);
    w_.Str("ID");
    w_.Str(n.id);
    w_.Str("Meta");
    Strings(n.meta);
    w_.Str("ModifyIndex");
    w_.Uint(n.raft.modify_index);
    w_.Str("Node");
    w_.Str(n.node);
    w_.Str("TaggedAddresses");
    Strings(n.tagged_addresses);
  }

  // internal::NodeServiceToJson(s, Form::kStorage)
  void Service(const NodeService& s) {
    const bool kind = !s.kind.empty(), tagged = !s.tagged_addresses.empty(),
               socket = !s.socket_path.empty(), proxy = s.proxy.has_value(),
               connect = !s.connect.is_null();
    w_.Map(10 + kind + tagged + socket + proxy + connect);
    w_.Str("Address");
    w_.Str(s.address);
    if (connect) {
      w_.Str("Connect");
      w_.Value(s.connect);
    }
    w_.Str("CreateIndex");
    w_.Uint(s.raft.create_index);
    w_.Str("EnableTagOverride");
    w_.Bool(s.enable_tag_override);
    w_.Str("ID");
    w_.Str(s.id);
    if (kind) {
      w_.Str("Kind");
      w_.Str(s.kind);
    }
    w_.Str("Meta");
    Strings(s.meta);
    w_.Str("ModifyIndex");
    w_.Uint(s.raft.modify_index);
    w_.Str("Port");
    w_.Int(s.port);
    if (proxy) {
      w_.Str("Proxy");
      w_.Value(internal::ProxyConfigToJson(*s.proxy, internal::Form::kStorage));
    }
    w_.Str("Service");
    w_.Str(s.service);
    if (socket) {
      w_.Str("SocketPath");
      w_.Str(s.socket_path);
    }
    if (tagged) {
      w_.Str("TaggedAddresses");  // before "Tags": 'g' < 's'
      w_.Map(s.tagged_addresses.size());
      for (const auto& [k, a] : s.tagged_addresses) {
        w_.Str(k);
        w_.Map(2);
        w_.Str("Address");
        w_.Str(a.address);
        w_.Str("Port");
        w_.Int(a.port);
      }
    }
    w_.Str("Tags");
    Strings(s.tags);
    w_.Str("Weights");
    w_.Map(2);
    w_.Str("Passing");
    w_.Int(s.weights.passing);
    w_.Str("Warning");
    w_.Int(s.weights.warning);
  }

  // internal::CheckDefinitionToJson(d, Form::kStorage): every field omitted when empty.
  void Definition(const CheckDefinition& d) {
    w_.Map(!d.body.empty() + (d.deregister_critical_service_after_ns != 0) + !d.http.empty() +
           !d.header.empty() + (d.interval_ns != 0) + !d.method.empty() +
           !d.script_args.empty() + !d.tcp.empty() +
           !d.tls_server_name.empty() + d.tls_skip_verify + (d.ttl_ns != 0) + (d.timeout_ns != 0) +
           !d.udp.empty() + !d.grpc.empty() + d.grpc_use_tls + !d.h2ping.empty() +
           d.h2ping_use_tls);
    if (!d.body.empty()) {
      w_.Str("Body");
      w_.Str(d.body);
    }
    if (d.deregister_critical_service_after_ns != 0) {
      w_.Str("DeregisterCriticalServiceAfter");
      w_.Int(d.deregister_critical_service_after_ns);
    }
    if (!d.grpc.empty()) {
      w_.Str("GRPC");
      w_.Str(d.grpc);
    }
    if (d.grpc_use_tls) {
      w_.Str("GRPCUseTLS");
      w_.Bool(true);
    }
    if (!d.h2ping.empty()) {
      w_.Str("H2PING");
      w_.Str(d.h2ping);
    }
    if (d.h2ping_use_tls) {
      w_.Str("H2PingUseTLS");
      w_.Bool(true);
    }
    if (!d.http.empty()) {
      w_.Str("HTTP");
      w_.Str(d.http);
    }
    if (!d.header.empty()) {
      w_.Str("Header");
      w_.Map(d.header.size());
      for (const auto& [k, values] : d.header) {
        w_.Str(k);
        Strings(values);
      }
    }
    if (d.interval_ns != 0) {
      w_.Str("Interval");
      w_.Int(d.interval_ns);
    }
    if (!d.method.empty()) {
      w_.Str("Method");
      w_.Str(d.method);
    }
    if (!d.script_args.empty()) {
      w_.Str("ScriptArgs");
      Strings(d.script_args);
    }
    if (!d.tcp.empty()) {
      w_.Str("TCP");
      w_.Str(d.tcp);
    }
    if (!d.tls_server_name.empty()) {
      w_.Str("TLSServerName");
      w_.Str(d.tls_server_name);
    }
    if (d.tls_skip_verify) {
      w_.Str("TLSSkipVerify");
      w_.Bool(true);
    }
    if (d.ttl_ns != 0) {
      w_.Str("TTL");
      w_.Int(d.ttl_ns);
    }
    if (d.timeout_ns != 0) {
      w_.Str("Timeout");
      w_.Int(d.timeout_ns);
    }
    if (!d.udp.empty()) {
      w_.Str("UDP");
      w_.Str(d.udp);
    }
  }

  // internal::HealthCheckToJson(c, Form::kStorage)
  void Check(const HealthCheck& c) {
    w_.Map(14);
    w_.Str("CheckID");
    w_.Str(c.check_id);
    w_.Str("CreateIndex");
    w_.Uint(c.raft.create_index);
    w_.Str("Definition");
    Definition(c.definition);
    w_.Str("ExposedPort");
    w_.Int(c.exposed_port);
    w_.Str("ModifyIndex");
    w_.Uint(c.raft.modify_index);
    w_.Str("Name");
    w_.Str(c.name);
    w_.Str("Node");
    w_.Str(c.node);
    w_.Str("Notes");
    w_.Str(c.notes);
    w_.Str("Output");
    w_.Str(c.output);
    w_.Str("ServiceID");
    w_.Str(c.service_id);
    w_.Str("ServiceName");
    w_.Str(c.service_name);
    w_.Str("ServiceTags");
    Strings(c.service_tags);
    w_.Str("Status");
    w_.Str(c.status);
    w_.Str("Type");
    w_.Str(c.type);
  }

  // internal::KVEntryToJson(e, Form::kStorage)
  void KV(const KVEntry& e) {
    const bool session = !e.session.empty(), value = !e.value.empty();
    w_.Map(5 + session + value);
    w_.Str("CreateIndex");
    w_.Uint(e.raft.create_index);
    w_.Str("Flags");
    w_.Uint(e.flags);
    w_.Str("Key");
    w_.Str(e.key);
    w_.Str("LockIndex");
    w_.Uint(e.lock_index);
    w_.Str("ModifyIndex");
    w_.Uint(e.raft.modify_index);
    if (session) {
      w_.Str("Session");
      w_.Str(e.session);
    }
    if (value) {
      w_.Str("Value");
      w_.Bin(e.value);
    }
  }

  internal::MsgpackWriter w_;
  std::stop_token stop_;
  uint64_t records_ = 0;
};

// The snapshot format: one version byte, then the document.
Result<std::string> EncodeSnapshot(const SnapshotTables& t, std::stop_token stop) {
  std::string out;
  out.reserve(SnapshotWriter::Estimate(t));
  out.push_back(static_cast<char>(kSnapshotVersion));
  SnapshotWriter writer(&out, std::move(stop));
  if (!writer.Write(t)) return Unavailable("snapshot: encoding stopped");
  return out;
}

Status ReadIndexMap(const Json& j, const std::string& what, SortedMap<Index>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object()) return InvalidArgument(what + ": expected a map");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_unsigned()) return InvalidArgument(what + "." + k + ": expected an index");
    (*out)[k] = v.get<Index>();
  }
  return Status::Ok();
}

// ---- Decoding, one section at a time in the order the checks need: a service's node must be
// read before it, a check's service before the check.

Status SnapshotError(const std::string& what) { return InvalidArgument("snapshot: " + what); }

// A record's indexes may not pass the snapshot's last index.
Status CheckRaft(const RaftIndex& raft, Index last_index, const std::string& what) {
  if (raft.create_index > raft.modify_index || raft.modify_index > last_index) {
    return SnapshotError(what + " has indexes beyond the snapshot's last index");
  }
  return Status::Ok();
}

std::string ItemPath(const char* list, size_t i) {
  return std::string("snapshot.") + list + "[" + std::to_string(i) + "]";
}

Status ReadTableIndexes(const internal::FieldReader& r, Tables* t) {
  const Json* idx = r.Find("Indexes");
  if (idx == nullptr) return Status::Ok();
  internal::FieldReader ir(*idx, "snapshot.Indexes");
  ir.Uint64("nodes", &t->nodes_index)
      .Uint64("services", &t->services_index)
      .Uint64("checks", &t->checks_index)
      .Uint64("kvs", &t->kvs_index)
      .Uint64("service_extinction", &t->service_extinction_index);
  return ir.status();
}

Status ReadNodes(const Json& list, Tables* t) {
  for (size_t i = 0; i < list.size(); ++i) {
    Node n;
    if (Status s = internal::DecodeNodeAt(list[i], ItemPath("Nodes", i), &n); !s.ok()) return s;
    if (n.node.empty()) return SnapshotError("node without a name");
    if (Status s = CheckRaft(n.raft, t->last_index, "node " + Quote(n.node)); !s.ok()) return s;
    if (!n.id.empty() && !t->node_ids.emplace(n.id, n.node).second) {
      return SnapshotError("node ID " + Quote(n.id) + " used twice");
    }
    std::string name = n.node;
    if (!t->nodes.emplace(name, std::move(n)).second) {
      return SnapshotError("node " + Quote(name) + " twice");
    }
  }
  return Status::Ok();
}

Status ReadServices(const Json& list, Tables* t) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = ItemPath("Services", i);
    internal::FieldReader sr(list[i], path);
    std::string node;
    sr.String("Node", &node);
    if (!sr.ok()) return sr.status();
    NodeService svc;
    const Json* body = sr.Find("Service");
    if (body == nullptr) return SnapshotError("service entry without a service");
    if (Status s = internal::DecodeNodeServiceAt(*body, path + ".Service", &svc); !s.ok()) return s;
    if (t->nodes.count(node) == 0) return SnapshotError("service on unknown node " + Quote(node));
    if (svc.id.empty() || svc.service.empty()) {
      return SnapshotError("service without an ID or name");
    }
    if (Status s = CheckRaft(svc.raft, t->last_index, "service " + Quote(svc.id)); !s.ok()) {
      return s;
    }
    auto& instances = t->services[node];
    if (instances.count(svc.id) > 0) return SnapshotError("service " + Quote(svc.id) + " twice");
    t->IndexInstance(node, svc);
    std::string id = svc.id;
    instances.emplace(id, std::move(svc));
  }
  return Status::Ok();
}

Status ReadChecks(const Json& list, Tables* t) {
  for (size_t i = 0; i < list.size(); ++i) {
    HealthCheck c;
    if (Status s = internal::DecodeHealthCheckAt(list[i], ItemPath("Checks", i), &c); !s.ok()) {
      return s;
    }
    if (t->nodes.count(c.node) == 0) return SnapshotError("check on unknown node " + Quote(c.node));
    if (c.check_id.empty()) return SnapshotError("check without an ID");
    if (!c.service_id.empty() && t->FindService(c.node, c.service_id) == nullptr) {
      return SnapshotError("check " + Quote(c.check_id) + " of unknown service " +
                           Quote(c.service_id));
    }
    if (Status s = CheckRaft(c.raft, t->last_index, "check " + Quote(c.check_id)); !s.ok()) {
      return s;
    }
    std::string id = c.check_id;
    if (!t->checks[c.node].emplace(id, std::move(c)).second) {
      return SnapshotError("check " + Quote(id) + " twice");
    }
  }
  return Status::Ok();
}

Status ReadKVs(const Json& list, Tables* t) {
  for (size_t i = 0; i < list.size(); ++i) {
    KVEntry e;
    if (Status s = internal::DecodeKVEntryAt(list[i], ItemPath("KVs", i), &e); !s.ok()) return s;
    if (Status s = CheckRaft(e.raft, t->last_index, "key " + Quote(e.key)); !s.ok()) return s;
    std::string key = e.key;
    if (!t->kvs.emplace(key, std::make_shared<const KVEntry>(std::move(e))).second) {
      return SnapshotError("key " + Quote(key) + " twice");
    }
  }
  return Status::Ok();
}

Status ReadIndexMaps(const internal::FieldReader& r, Tables* t) {
  static const Json kNull;
  const std::pair<const char*, SortedMap<Index>*> maps[] = {
      {"Tombstones", &t->tombstones},
      {"ServiceIndexes", &t->service_indexes},
      {"ConnectIndexes", &t->connect_indexes},
  };
  for (const auto& [name, out] : maps) {
    const Json* v = r.Find(name);
    if (Status s = ReadIndexMap(v == nullptr ? kNull : *v, std::string("snapshot.") + name, out);
        !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status ReadConnectCA(const internal::FieldReader& r, Tables* t) {
  const Json* ca = r.Find("ConnectCA");
  if (ca == nullptr) return Status::Ok();
  internal::FieldReader cr(*ca, "snapshot.ConnectCA");
  cr.Uint64("ConfigIndex", &t->ca_config_index).Uint64("RootsIndex", &t->ca_roots_index);
  if (!cr.ok()) return cr.status();
  const Json* config = cr.Find("Config");
  const Json* roots = cr.Find("Roots");
  if (config != nullptr && !config->is_object()) {
    return SnapshotError("ConnectCA.Config is not a map");
  }
  if (roots != nullptr &&
      (!roots->is_object() || !roots->contains("Roots") || !(*roots)["Roots"].is_array())) {
    return SnapshotError("ConnectCA.Roots is not a roots document");
  }
  if (config != nullptr) t->ca_config = *config;
  if (roots != nullptr) t->ca_roots = *roots;
  return Status::Ok();
}

// The config entries section: absent in snapshots taken before the table existed (or while it
// was never written), which restore with an empty table.
Status ReadConfigEntries(const internal::FieldReader& r, Tables* t) {
  const Json* section = r.Find("ConfigEntries");
  if (section == nullptr) return Status::Ok();
  internal::FieldReader cr(*section, "snapshot.ConfigEntries");
  cr.Uint64("Index", &t->config_entries_index);
  if (!cr.ok()) return cr.status();
  const Json* list = cr.Find("Entries");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return SnapshotError("ConfigEntries.Entries is not a list");
  for (size_t i = 0; i < list->size(); ++i) {
    internal::FieldReader er((*list)[i], ItemPath("ConfigEntries.Entries", i));
    std::string kind, name;
    er.String("Kind", &kind).String("Name", &name);
    if (!er.ok()) return er.status();
    const Json* entry = er.Find("Entry");
    if (kind.empty() || name.empty() || entry == nullptr || !entry->is_object()) {
      return SnapshotError("config entry without a kind, a name or a body");
    }
    for (const char* field : {"CreateIndex", "ModifyIndex"}) {
      auto it = entry->find(field);
      if (it == entry->end()) continue;
      if (!it->is_number_unsigned()) {
        return SnapshotError("config entry " + Quote(kind + "/" + name) + " has a bad " + field);
      }
      if (it->get<Index>() > t->last_index) {
        return SnapshotError("config entry " + Quote(kind + "/" + name) +
                             " has indexes beyond the snapshot's last index");
      }
    }
    if (!t->config_entries[kind].emplace(name, *entry).second) {
      return SnapshotError("config entry " + Quote(kind + "/" + name) + " twice");
    }
  }
  return Status::Ok();
}

// The sessions section: absent in snapshots taken before the table existed (or while no session
// was ever created), which restore with no sessions. Read after nodes, checks and KVs: a session
// must name a known node and checks, and a held key a known session.
Status ReadSessions(const internal::FieldReader& r, Tables* t) {
  const Json* section = r.Find("Sessions");
  if (section != nullptr) {
    internal::FieldReader sr(*section, "snapshot.Sessions");
    sr.Uint64("Index", &t->sessions_index);
    if (!sr.ok()) return sr.status();
    const Json* list = sr.Find("Entries");
    if (list != nullptr && !list->is_array()) return SnapshotError("Sessions.Entries is not a list");
    for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
      Session s;
      if (Status st = internal::DecodeSessionAt((*list)[i], ItemPath("Sessions.Entries", i), &s);
          !st.ok()) {
        return st;
      }
      if (s.id.empty()) return SnapshotError("session without an ID");
      if (t->nodes.count(s.node) == 0) {
        return SnapshotError("session " + Quote(s.id) + " on unknown node " + Quote(s.node));
      }
      if (Status st = CheckRaft(s.raft, t->last_index, "session " + Quote(s.id)); !st.ok()) {
        return st;
      }
      if (t->sessions.count(s.id) > 0) return SnapshotError("session " + Quote(s.id) + " twice");
      t->IndexSession(s);
      std::string id = s.id;
      t->sessions.emplace(std::move(id), std::move(s));
    }
  }
  for (const auto& [key, e] : t->kvs) {
    if (!e->session.empty() && t->sessions.count(e->session) == 0) {
      return SnapshotError("key " + Quote(key) + " held by unknown session " + Quote(e->session));
    }
  }
  return Status::Ok();
}

// The prepared queries: absent in snapshots taken before a query was ever written. Read after
// the sessions a query may be bound to.
Status ReadPreparedQueries(const internal::FieldReader& r, Tables* t) {
  const Json* section = r.Find("PreparedQueries");
  if (section == nullptr) return Status::Ok();
  internal::FieldReader qr(*section, "snapshot.PreparedQueries");
  qr.Uint64("Index", &t->prepared_queries_index);
  if (!qr.ok()) return qr.status();
  const Json* list = qr.Find("Entries");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return SnapshotError("PreparedQueries.Entries is not a list");
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& q = (*list)[i];
    auto id = q.is_object() ? q.find("ID") : q.end();
    if (!q.is_object() || id == q.end() || !id->is_string() || id->get<std::string>().empty()) {
      return SnapshotError(ItemPath("PreparedQueries.Entries", i) + " has no ID");
    }
    for (const char* field : {"CreateIndex", "ModifyIndex"}) {
      auto it = q.find(field);
      if (it != q.end() && (!it->is_number_unsigned() || it->get<Index>() > t->last_index)) {
        return SnapshotError("prepared query " + Quote(id->get<std::string>()) + " has a bad " +
                             field);
      }
    }
    if (auto s = q.find("Session"); s != q.end() && s->is_string() &&
                                     !s->get<std::string>().empty() &&
                                     t->sessions.count(s->get<std::string>()) == 0) {
      return SnapshotError("prepared query " + Quote(id->get<std::string>()) +
                           " bound to unknown session " + Quote(s->get<std::string>()));
    }
    if (!t->prepared_queries.emplace(id->get<std::string>(), q).second) {
      return SnapshotError("prepared query " + Quote(id->get<std::string>()) + " twice");
    }
  }
  return Status::Ok();
}

// The coordinates section: absent in snapshots taken before any coordinate was stored. Read
// after the nodes: a coordinate must belong to a known node.
Status ReadCoordinates(const internal::FieldReader& r, Tables* t) {
  const Json* section = r.Find("Coordinates");
  if (section == nullptr) return Status::Ok();
  internal::FieldReader cr(*section, "snapshot.Coordinates");
  cr.Uint64("Index", &t->coordinates_index);
  if (!cr.ok()) return cr.status();
  const Json* list = cr.Find("Entries");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return SnapshotError("Coordinates.Entries is not a list");
  for (size_t i = 0; i < list->size(); ++i) {
    CoordinateEntry e;
    if (Status st = DecodeCoordinateEntryAt((*list)[i], ItemPath("Coordinates.Entries", i), &e);
        !st.ok()) {
      return st;
    }
    if (t->nodes.count(e.node) == 0) {
      return SnapshotError("coordinate of unknown node " + Quote(e.node));
    }
    if (!e.coord.IsValid()) return SnapshotError("invalid coordinate of node " + Quote(e.node));
    if (!t->coordinates.emplace(std::make_pair(e.node, e.segment), e.coord).second) {
      return SnapshotError("coordinate of node " + Quote(e.node) + " twice");
    }
  }
  return Status::Ok();
}

// The ACL section: absent in snapshots taken before ACLs were ever written.
Status ReadAcl(const internal::FieldReader& r, Tables* t) {
  const Json* section = r.Find("ACL");
  if (section == nullptr) return Status::Ok();
  internal::FieldReader ar(*section, "snapshot.ACL");
  ar.Uint64("BootstrapIndex", &t->acl_bootstrap_index)
      .Uint64("PoliciesIndex", &t->acl_policies_index)
      .Uint64("RolesIndex", &t->acl_roles_index)
      .Uint64("TokensIndex", &t->acl_tokens_index);
  if (!ar.ok()) return ar.status();
  struct Part {
    const char* name;
    const char* id_field;
    const char* key_field;
    SortedMap<Json>* table;
  };
  const Part parts[] = {{"Policies", "ID", "Name", &t->acl_policies},
                        {"Roles", "ID", "Name", &t->acl_roles},
                        {"Tokens", "AccessorID", "SecretID", &t->acl_tokens}};
  for (const auto& p : parts) {
    const Json* list = ar.Find(p.name);
    if (list == nullptr) continue;
    if (!list->is_array()) return SnapshotError(std::string("ACL.") + p.name + " is not a list");
    std::set<std::string> keys;
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& o = (*list)[i];
      auto str = [&](const char* f) {
        auto it = o.is_object() ? o.find(f) : o.end();
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      std::string id = str(p.id_field), key = str(p.key_field);
      std::string where = ItemPath((std::string("ACL.") + p.name).c_str(), i);
      if (id.empty() || key.empty()) {
        return SnapshotError(where + " lacks " + p.id_field + " or " + p.key_field);
      }
      for (const char* field : {"CreateIndex", "ModifyIndex"}) {
        auto it = o.find(field);
        if (it != o.end() && (!it->is_number_unsigned() || it->get<Index>() > t->last_index)) {
          return SnapshotError(where + " has a bad " + field);
        }
      }
      if (!keys.insert(key).second || !p.table->emplace(id, o).second) {
        return SnapshotError(where + " repeats an ID or a unique name");
      }
    }
  }
  t->IndexAcl();
  return Status::Ok();
}

}  // namespace

Json Store::Impl::SnapshotJson() const {
  Json nodes = Json::array();
  for (const auto& [name, n] : t.nodes) nodes.push_back(internal::NodeToJson(n, Form::kStorage));
  Json services = Json::array();
  for (const auto& [node, instances] : t.services) {
    for (const auto& [id, svc] : instances) {
      services.push_back(
          {{"Node", node}, {"Service", internal::NodeServiceToJson(svc, Form::kStorage)}});
    }
  }
  Json checks = Json::array();
  for (const auto& [node, list] : t.checks) {
    for (const auto& [id, c] : list)
      checks.push_back(internal::HealthCheckToJson(c, Form::kStorage));
  }
  Json kvs = Json::array();
  for (const auto& [key, e] : t.kvs) kvs.push_back(internal::KVEntryToJson(*e, Form::kStorage));
  Json out = {
      {"LastIndex", t.last_index},
      {"Indexes",
       {{"nodes", t.nodes_index},
        {"services", t.services_index},
        {"checks", t.checks_index},
        {"kvs", t.kvs_index},
        {"service_extinction", t.service_extinction_index}}},
      {"Nodes", std::move(nodes)},
      {"Services", std::move(services)},
      {"Checks", std::move(checks)},
      {"KVs", std::move(kvs)},
      {"Tombstones", IndexMap(t.tombstones)},
      {"ServiceIndexes", IndexMap(t.service_indexes)},
      {"ConnectIndexes", IndexMap(t.connect_indexes)},
  };
  // Only once the CA exists, so a store without one snapshots as it always did.
  if (!t.ca_config.is_null() || !t.ca_roots.is_null()) {
    out["ConnectCA"] = {{"Config", t.ca_config},
                        {"Roots", t.ca_roots},
                        {"ConfigIndex", t.ca_config_index},
                        {"RootsIndex", t.ca_roots_index}};
  }
  // Likewise only once a config entry has been written.
  if (t.config_entries_index != 0) {
    Json entries = Json::array();
    for (const auto& [kind, list] : t.config_entries) {
      for (const auto& [name, e] : list) {
        entries.push_back({{"Kind", kind}, {"Name", name}, {"Entry", e}});
      }
    }
    out["ConfigEntries"] = {{"Entries", std::move(entries)}, {"Index", t.config_entries_index}};
  }
  if (t.has_acl()) {
    auto list = [](const SortedMap<Json>& table) {
      Json a = Json::array();
      for (const auto& [id, o] : table) a.push_back(o);
      return a;
    };
    out["ACL"] = {{"BootstrapIndex", t.acl_bootstrap_index},
                  {"Policies", list(t.acl_policies)},
                  {"PoliciesIndex", t.acl_policies_index},
                  {"Roles", list(t.acl_roles)},
                  {"RolesIndex", t.acl_roles_index},
                  {"Tokens", list(t.acl_tokens)},
                  {"TokensIndex", t.acl_tokens_index}};
  }
  if (t.sessions_index != 0) {
    Json entries = Json::array();
    for (const auto& [id, sess] : t.sessions) {
      entries.push_back(internal::SessionToJson(sess, Form::kStorage));
    }
    out["Sessions"] = {{"Entries", std::move(entries)}, {"Index", t.sessions_index}};
  }
  if (t.prepared_queries_index != 0) {
    Json entries = Json::array();
    for (const auto& [id, q] : t.prepared_queries) entries.push_back(q);
    out["PreparedQueries"] = {{"Entries", std::move(entries)},
                              {"Index", t.prepared_queries_index}};
  }
  // Likewise only once a coordinate has been stored.
  if (t.coordinates_index != 0) {
    Json entries = Json::array();
    for (const auto& [key, c] : t.coordinates) {
      entries.push_back(CoordinateEntryToJson({key.first, key.second, c}));
    }
    out["Coordinates"] = {{"Entries", std::move(entries)}, {"Index", t.coordinates_index}};
  }
  return out;
}

Result<Tables> Store::Impl::TablesFromJson(const Json& j) {
  Tables t;
  internal::FieldReader r(j, "snapshot");
  r.Uint64("LastIndex", &t.last_index);
  if (!r.ok()) return r.status();
  if (Status s = ReadTableIndexes(r, &t); !s.ok()) return s;
  using ListReader = Status (*)(const Json&, Tables*);
  const std::pair<const char*, ListReader> lists[] = {
      {"Nodes", ReadNodes}, {"Services", ReadServices}, {"Checks", ReadChecks}, {"KVs", ReadKVs}};
  for (const auto& [name, read] : lists) {
    const Json* list = r.Find(name);
    if (list == nullptr) continue;  // an absent list is empty
    if (!list->is_array()) {
      return InvalidArgument(std::string("snapshot.") + name + ": expected a list");
    }
    if (Status s = read(*list, &t); !s.ok()) return s;
  }
  if (Status s = ReadIndexMaps(r, &t); !s.ok()) return s;
  if (Status s = ReadConnectCA(r, &t); !s.ok()) return s;
  if (Status s = ReadConfigEntries(r, &t); !s.ok()) return s;
  if (Status s = ReadSessions(r, &t); !s.ok()) return s;
  if (Status s = ReadAcl(r, &t); !s.ok()) return s;
  if (Status s = ReadPreparedQueries(r, &t); !s.ok()) return s;
  if (Status s = ReadCoordinates(r, &t); !s.ok()) return s;
  for (Index i :
       {t.nodes_index, t.services_index, t.checks_index, t.kvs_index, t.service_extinction_index,
        t.ca_config_index, t.ca_roots_index, t.config_entries_index, t.sessions_index,
        t.acl_policies_index, t.acl_roles_index, t.acl_tokens_index, t.acl_bootstrap_index,
        t.prepared_queries_index, t.coordinates_index}) {
    if (i > t.last_index) return SnapshotError("table index beyond the snapshot's last index");
  }
  return t;
}

std::string Store::Snapshot() const { return *EncodeSnapshot(impl_->t, {}); }

std::unique_ptr<SnapshotCopy> Store::CopyForSnapshot() const {
  const SnapshotTables& tables = impl_->t;
  return std::make_unique<SnapshotCopy>(std::make_unique<const SnapshotTables>(tables));
}

SnapshotCopy::SnapshotCopy(std::unique_ptr<const SnapshotTables> tables)
    : tables_(std::move(tables)) {}
SnapshotCopy::~SnapshotCopy() = default;

Index SnapshotCopy::LastIndex() const { return tables_->last_index; }

Result<std::string> SnapshotCopy::Encode(std::stop_token stop) const {
  return EncodeSnapshot(*tables_, std::move(stop));
}

std::string internal::SnapshotThroughJson(const Store& store) {
  std::string out(1, static_cast<char>(kSnapshotVersion));
  Json::to_msgpack(store.impl_->SnapshotJson(), out);
  return out;
}

Result<Tables> Store::Impl::ParseSnapshot(std::string_view bytes) {
  if (bytes.empty()) return InvalidArgument("snapshot: empty");
  auto version = static_cast<uint8_t>(bytes[0]);
  if (version != kSnapshotVersion) {
    return InvalidArgument("snapshot: unsupported format version " + std::to_string(version));
  }
  auto j = internal::ParseMsgpack(bytes.substr(1), kSnapshotMaxDepth);
  if (!j.ok()) return InvalidArgument("snapshot: " + j.status().message());
  Result<Tables> t;
  try {
    t = Impl::TablesFromJson(*j);
  } catch (const std::exception& e) {
    return Internal(std::string("snapshot: ") + e.what());
  }
  return t;
}

Status Store::Restore(std::string_view bytes) {
  auto t = Impl::ParseSnapshot(bytes);
  if (!t.ok()) return t.status();
  impl_->t = std::move(*t);
  impl_->FireAll();
  return Status::Ok();
}

// An operator's restore, in log order: the snapshot's tables replace ours (the store's index
// stays the log's).
ApplyResult Store::Impl::RestoreFrom(const RestoreRequest& req) {
  auto tables = ParseSnapshot(req.snapshot);
  if (!tables.ok()) return Rejected(tables.status());
  t = std::move(*tables);
  return {};
}

}  // namespace gangway::catalog
