// Config entries as the servers of one datacenter keep them (docs/config-entries.md): writes are
// checked, then applied through the log (catalog ConfigEntryRequest) in the primary datacenter;
// a secondary's leader copies the primary's entries into its own store and keeps its copy while
// the primary is unreachable. All state is in the replicated store; this class holds the checks,
// the replication loop's timers and its status. Owned by Server; loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/loop.h"
#include "core/status.h"

namespace gangway::server {

class Server;

// How a written entry is checked: the one place where the typed entries of meshcfg plug in.
// Both run on the server that receives the write, before anything reaches the log.
struct ConfigEntryChecks {
  // The entry as the client sent it (the /v1/config body) to the canonical JSON that is stored
  // and served. An error is a body that does not decode: InvalidArgument with the decoder's text
  // (the API answers 400 "Request decoding failed: <text>").
  std::function<Result<nlohmann::json>(const nlohmann::json& body)> normalize;
  // Consul's per-entry validation of a normalized entry. An error is the write's error, with
  // its text as is (the API answers 500, as Consul's RPC error does).
  std::function<Status(const nlohmann::json& entry)> validate;
  // Whether `kind` names a config entry kind (reads and deletes of other kinds are refused).
  std::function<bool(std::string_view kind)> known_kind;
};

// The checks used until meshcfg's are wired: Kind (or kind) is one of the seven kinds, Name is
// present, proxy-defaults is named "global" and mesh "mesh" (both given those names when none
// is set), and the top-level Kind and Name keys are written in Consul's case. Everything else is
// kept as written.
ConfigEntryChecks BuiltinConfigEntryChecks();

// The seven kinds, as Consul spells them.
bool IsConfigEntryKind(std::string_view kind);

struct ConfigEntriesOptions {
  std::string datacenter = "dc1";
  // Where entries are written; "" or our own datacenter: we are the primary.
  std::string primary_datacenter;
  // A secondary's leader retries reaching the primary this often at first, doubling up to the
  // maximum.
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{30000};
};

struct ConfigEntriesHooks {
  // The primary datacenter's entries of every kind (a JSON list of entries as /v1/config serves
  // them), waiting for an index past `min_index` (0: answer at once). done(list, X-Consul-Index)
  // or an error.
  std::function<void(uint64_t min_index,
                     std::function<void(Result<nlohmann::json>, uint64_t index)>)>
      primary_entries;
};

class ConfigEntries {
 public:
  ConfigEntries(Loop& loop, Server& server, ConfigEntriesOptions options, ConfigEntryChecks checks,
                ConfigEntriesHooks hooks = {});
  ~ConfigEntries();

  bool primary() const;
  // The datacenter writes go to (ours when we are the primary).
  std::string primary_datacenter() const;
  const ConfigEntriesOptions& options() const { return options_; }

  // See ConfigEntryChecks.
  Result<nlohmann::json> Normalize(const nlohmann::json& body) const;
  bool KnownKind(std::string_view kind) const;

  // Primary only (a secondary's API forwards writes to the primary; here they fail with
  // InvalidArgument naming it). Validates a normalized entry and applies it: with `cas`, only
  // when the stored entry's ModifyIndex is *cas (0: only when absent). done(written) or an error:
  // InvalidArgument is the validation's (Consul's text), anything else the log's.
  void Upsert(nlohmann::json entry, std::optional<uint64_t> cas,
              std::function<void(Result<bool>)> done);
  // Deletes (kind, name); with `cas`, only when it exists with that ModifyIndex.
  // done(deleted) or an error. Deleting an absent entry without `cas` succeeds.
  void Delete(std::string kind, std::string name, std::optional<uint64_t> cas,
              std::function<void(Result<bool>)> done);

  // The server calls this when it gains or loses leadership: a secondary's leader replicates.
  void OnLeadership(bool leader);

  // Replication status (secondary leader): the primary's index last copied in full, and why the
  // last attempt failed ("" when it did not).
  uint64_t replicated_index() const { return replicated_index_; }
  const std::string& last_error() const { return last_error_; }

 private:
  void Fetch(uint64_t min_index);
  void Retry(const std::string& why);
  void Reconcile(const nlohmann::json& remote, uint64_t index);
  // A secondary's changes from one read of the primary, applied one log entry at a time.
  struct Batch;
  void ApplyNext(std::shared_ptr<Batch> batch);

  // Callbacks of requests that outlive this object hold a weak reference and do nothing once it
  // has expired.
  std::weak_ptr<int> Life() const { return life_; }
  std::shared_ptr<int> life_ = std::make_shared<int>(0);

  Loop& loop_;
  Server& server_;
  ConfigEntriesOptions options_;
  ConfigEntryChecks checks_;
  ConfigEntriesHooks hooks_;
  bool leader_ = false;
  uint64_t generation_ = 0;  // bumped on every leadership change: stale callbacks stop
  std::chrono::milliseconds retry_{0};
  std::unique_ptr<Timer> retry_timer_;
  uint64_t replicated_index_ = 0;
  std::string last_error_;
};

}  // namespace gangway::server
