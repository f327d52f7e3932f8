#include "server/config_entries.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "catalog/commands.h"
#include "core/log.h"
#include "server/server.h"

namespace gangway::server {
namespace {

using Json = nlohmann::json;

constexpr const char* kLog = "agent.server.replication.config_entry";
constexpr uint64_t kNoIndex = 0;

constexpr std::string_view kKinds[] = {
    "proxy-defaults", "service-defaults", "service-resolver",
    "service-router", "service-splitter", "service-intentions",
    "mesh",
};

// The value of `key` or of its lower-case spelling (Consul's decoders take both at the top level),
// and which spelling was found.
const Json* Member(const Json& entry, const char* key, const char* lower, std::string* found) {
  for (const char* k : {key, lower}) {
    auto it = entry.find(k);
    if (it != entry.end() && !it->is_null()) {
      *found = k;
      return &*it;
    }
  }
  return nullptr;
}

Result<Json> BuiltinNormalize(const Json& body) {
  if (!body.is_object()) return InvalidArgument("expected a JSON object holding one config entry");
  std::string kind_key, name_key;
  const Json* kind = Member(body, "Kind", "kind", &kind_key);
  if (kind == nullptr) {
    return InvalidArgument("Payload does not contain a kind/Kind key at the top level");
  }
  if (!kind->is_string()) return InvalidArgument("Kind value in payload is not a string");
  std::string k = kind->get<std::string>();
  if (!IsConfigEntryKind(k)) return InvalidArgument("invalid config entry kind: " + k);
  const Json* name = Member(body, "Name", "name", &name_key);
  if (name != nullptr && !name->is_string()) {
    return InvalidArgument("'Name' expected type 'string', got '" + std::string(name->type_name()) +
                           "'");
  }
  Json out = body;
  out.erase(kind_key);
  out["Kind"] = k;
  if (name != nullptr) {
    std::string n = name->get<std::string>();
    out.erase(name_key);
    out["Name"] = n;
  }
  // Consul's Normalize gives the singletons their fixed names.
  std::string n = out.value("Name", "");
  if (n.empty() && k == "proxy-defaults") out["Name"] = "global";
  if (n.empty() && k == "mesh") out["Name"] = "mesh";
  // Indexes are the store's; a client's copy of them (say, from `config read`) is not kept.
  out.erase("CreateIndex");
  out.erase("ModifyIndex");
  return out;
}

Status BuiltinValidate(const Json& entry) {
  std::string kind = entry.value("Kind", "");
  std::string name = entry.value("Name", "");
  if (name.empty()) return InvalidArgument("Name is required");
  if (kind == "proxy-defaults" && name != "global") {
    return InvalidArgument("invalid name (\"" + name + "\"), only \"global\" is supported");
  }
  if (kind == "mesh" && name != "mesh") {
    return InvalidArgument("invalid name (\"" + name + "\"), only \"mesh\" is supported");
  }
  return Status::Ok();
}

// An entry without the store's indexes, for comparing a replica with the primary's copy.
Json WithoutIndexes(Json entry) {
  if (entry.is_object()) {
    entry.erase("CreateIndex");
    entry.erase("ModifyIndex");
  }
  return entry;
}

using EntryKey = std::pair<std::string, std::string>;  // (kind, name)

// The entries of a list keyed by (kind, name); entries without both are skipped.
std::map<EntryKey, Json> ByKey(const std::vector<Json>& list) {
  std::map<EntryKey, Json> out;
  for (const auto& e : list) {
    if (!e.is_object()) continue;
    auto kind = e.find("Kind");
    auto name = e.find("Name");
    if (kind == e.end() || name == e.end() || !kind->is_string() || !name->is_string()) continue;
    out.emplace(EntryKey(kind->get<std::string>(), name->get<std::string>()), WithoutIndexes(e));
  }
  return out;
}

}  // namespace

struct ConfigEntries::Batch {
  std::vector<catalog::ConfigEntryRequest> changes;
  size_t next = 0;
  uint64_t index = 0;       // the primary's index the changes were read at
  uint64_t generation = 0;  // the leadership term they belong to
};

bool IsConfigEntryKind(std::string_view kind) {
  return std::find(std::begin(kKinds), std::end(kKinds), kind) != std::end(kKinds);
}

ConfigEntryChecks BuiltinConfigEntryChecks() {
  ConfigEntryChecks c;
  c.normalize = BuiltinNormalize;
  c.validate = BuiltinValidate;
  c.known_kind = IsConfigEntryKind;
  return c;
}

ConfigEntries::ConfigEntries(Loop& loop, Server& server, ConfigEntriesOptions options,
                             ConfigEntryChecks checks, ConfigEntriesHooks hooks)
    : loop_(loop),
      server_(server),
      options_(std::move(options)),
      checks_(std::move(checks)),
      hooks_(std::move(hooks)),
      retry_(options_.retry_min) {
  ConfigEntryChecks builtin = BuiltinConfigEntryChecks();
  if (!checks_.normalize) checks_.normalize = builtin.normalize;
  if (!checks_.validate) checks_.validate = builtin.validate;
  if (!checks_.known_kind) checks_.known_kind = builtin.known_kind;
}

ConfigEntries::~ConfigEntries() = default;

bool ConfigEntries::primary() const {
  return options_.primary_datacenter.empty() || options_.primary_datacenter == options_.datacenter;
}

std::string ConfigEntries::primary_datacenter() const {
  return primary() ? options_.datacenter : options_.primary_datacenter;
}

Result<Json> ConfigEntries::Normalize(const Json& body) const { return checks_.normalize(body); }

bool ConfigEntries::KnownKind(std::string_view kind) const { return checks_.known_kind(kind); }

// ---- writes (primary)

void ConfigEntries::Upsert(Json entry, std::optional<uint64_t> cas,
                           std::function<void(Result<bool>)> done) {
  if (!primary()) {
    return done(InvalidArgument("config entries are written in the primary datacenter '" +
                                options_.primary_datacenter + "'"));
  }
  if (Status s = checks_.validate(entry); !s.ok()) {
    return done(InvalidArgument(s.message()));
  }
  catalog::ConfigEntryRequest req;
  req.op = cas ? catalog::ConfigEntryOp::kUpsertCAS : catalog::ConfigEntryOp::kUpsert;
  req.cas = cas.value_or(0);
  req.kind = entry.value("Kind", "");
  req.name = entry.value("Name", "");
  req.entry = std::move(entry);
  server_.Apply(std::move(req), [done = std::move(done)](catalog::ApplyResult r) {
    if (!r.status.ok()) return done(r.status);
    done(r.success);
  });
}

void ConfigEntries::Delete(std::string kind, std::string name, std::optional<uint64_t> cas,
                           std::function<void(Result<bool>)> done) {
  if (!primary()) {
    return done(InvalidArgument("config entries are written in the primary datacenter '" +
                                options_.primary_datacenter + "'"));
  }
  catalog::ConfigEntryRequest req;
  req.op = cas ? catalog::ConfigEntryOp::kDeleteCAS : catalog::ConfigEntryOp::kDelete;
  req.cas = cas.value_or(0);
  req.kind = std::move(kind);
  req.name = std::move(name);
  server_.Apply(std::move(req), [done = std::move(done)](catalog::ApplyResult r) {
    if (!r.status.ok()) return done(r.status);
    done(r.success);
  });
}

// ---- replication (secondary leader; Consul's config_replication.go)

void ConfigEntries::OnLeadership(bool leader) {
  ++generation_;
  leader_ = leader;
  retry_timer_.reset();
  retry_ = options_.retry_min;
  if (!leader || primary()) return;
  LogInfo(kLog, "starting config entry replication from the primary datacenter '" +
                    options_.primary_datacenter + "'");
  Fetch(kNoIndex);
}

void ConfigEntries::Retry(const std::string& why) {
  if (why != last_error_) LogWarn(kLog, "config entry replication: " + why + "; retrying");
  last_error_ = why;
  auto delay = retry_;
  retry_ = std::min(retry_ * 2, options_.retry_max);
  // After a failure the copy is fetched whole again, at once, rather than blocking on an index
  // that may belong to a primary that has since been restored.
  retry_timer_ = loop_.After(delay, [this, gen = generation_] {
    if (gen == generation_ && leader_) Fetch(kNoIndex);
  });
}

void ConfigEntries::Fetch(uint64_t min_index) {
  if (!hooks_.primary_entries) return Retry("no way to reach the primary datacenter");
  hooks_.primary_entries(
      min_index, [this, gen = generation_, life = Life()](Result<Json> list, uint64_t index) {
        if (life.expired() || gen != generation_ || !leader_) return;
        if (!list.ok()) {
          // Nothing is deleted while the primary cannot be read: the datacenter keeps serving
          // its last copy.
          return Retry("cannot read the config entries of the primary datacenter '" +
                       options_.primary_datacenter + "': " + list.status().message());
        }
        if (!list->is_array()) return Retry("the primary's answer is not a list of entries");
        if (index == 0) return Retry("the primary's answer carries no index");
        Reconcile(*list, index);
      });
}

void ConfigEntries::Reconcile(const Json& remote_list, uint64_t index) {
  std::vector<Json> local_list;
  server_.store().ConfigEntries(nullptr, "", &local_list);
  std::vector<Json> remote_entries(remote_list.begin(), remote_list.end());
  auto remote = ByKey(remote_entries);
  auto local = ByKey(local_list);

  // Deletes first, then upserts, as Consul orders them.
  auto cmds = std::make_shared<std::vector<catalog::ConfigEntryRequest>>();
  for (const auto& [key, entry] : local) {
    if (remote.count(key) != 0) continue;
    catalog::ConfigEntryRequest del;
    del.op = catalog::ConfigEntryOp::kDelete;
    del.kind = key.first;
    del.name = key.second;
    cmds->push_back(std::move(del));
  }
  for (const auto& [key, entry] : remote) {
    auto mine = local.find(key);
    if (mine != local.end() && mine->second == entry) continue;
    catalog::ConfigEntryRequest up;
    up.op = catalog::ConfigEntryOp::kUpsert;
    up.kind = key.first;
    up.name = key.second;
    up.entry = entry;
    cmds->push_back(std::move(up));
  }
  if (!cmds->empty()) {
    LogInfo(kLog, "config entry replication: " + std::to_string(cmds->size()) +
                      " change(s) from the primary at index " + std::to_string(index));
  }
  auto batch = std::make_shared<Batch>();
  batch->changes = std::move(*cmds);
  batch->index = index;
  batch->generation = generation_;
  ApplyNext(std::move(batch));
}

// One log entry per change, in order; once all are stored the next fetch blocks past the index
// they were copied at.
void ConfigEntries::ApplyNext(std::shared_ptr<Batch> batch) {
  if (batch->generation != generation_ || !leader_) return;
  if (batch->next == batch->changes.size()) {
    replicated_index_ = batch->index;
    last_error_.clear();
    retry_ = options_.retry_min;
    return Fetch(batch->index);
  }
  catalog::ConfigEntryRequest req = batch->changes[batch->next++];
  server_.Apply(std::move(req), [this, batch, life = Life()](catalog::ApplyResult r) {
    if (life.expired()) return;
    if (!r.status.ok()) {
      if (batch->generation == generation_ && leader_) {
        Retry("failed to store a replicated entry: " + r.status.message());
      }
      return;
    }
    ApplyNext(batch);
  });
}

}  // namespace gangway::server
