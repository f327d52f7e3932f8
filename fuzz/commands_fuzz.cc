// Fuzz target for state-store commands (Raft log entries) and snapshots: the bytes are decoded as
// a command and, separately, restored as a snapshot. Beyond "no crash", it checks what the log
// relies on: a decoded command re-encodes canonically; applying it to a store with some state
// leaves a store whose snapshot restores to an identical snapshot; and everything the store holds
// renders as API JSON that dump() accepts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "catalog/commands.h"
#include "catalog/json.h"
#include "catalog/store.h"

namespace {

using namespace gangway::catalog;  // NOLINT: a fuzz harness

// A little state for deletes, CAS and transactions to act on.
void Seed(Store* store) {
  RegisterRequest reg;
  reg.node.node = "node-1";
  reg.node.address = "10.0.0.1";
  NodeService web;
  web.id = "web";
  web.service = "web";
  web.port = 80;
  reg.service = web;
  HealthCheck check;
  check.check_id = "web-check";
  check.service_id = "web";
  check.status = kPassing;
  reg.checks = {check};
  store->Apply(1, reg);
  KVRequest kv;
  kv.entry.key = "config/app";
  kv.entry.value = "v1";
  store->Apply(2, kv);
  ConfigEntryRequest entry;
  entry.kind = "service-defaults";
  entry.name = "web";
  entry.entry = {{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}};
  store->Apply(3, entry);
}

void RenderAll(const Store& store) {
  std::vector<ServiceNode> rows;
  store.AllServiceNodes(nullptr, &rows);
  for (const auto& row : rows) {
    (void)ServiceNodeToJson(row).dump();
    std::vector<CheckServiceNode> health;
    store.CheckServiceNodes(nullptr, row.service.service, false, &health);
    for (const auto& h : health) (void)CheckServiceNodeToJson(h).dump();
  }
  std::vector<KVEntry> kvs;
  store.KVList(nullptr, "", &kvs);
  for (const auto& e : kvs) (void)KVEntryToJson(e).dump();
  // Config entries are served as stored; the API replaces invalid UTF-8 as it dumps them.
  std::vector<Json> entries;
  store.ConfigEntries(nullptr, "", &entries);
  for (const auto& e : entries) (void)e.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  Store restored;
  if (restored.Restore(bytes).ok()) {
    if (Store again; !again.Restore(restored.Snapshot()).ok()) std::abort();
    RenderAll(restored);
  }

  auto cmd = DecodeCommand(bytes);
  if (!cmd.ok()) return 0;
  std::string encoded = EncodeCommand(*cmd);
  auto back = DecodeCommand(encoded);
  if (!back.ok() || EncodeCommand(*back) != encoded) std::abort();

  Store store;
  Seed(&store);
  int fired = 0;
  WatchSet ws;
  std::vector<KVEntry> all;
  store.KVList(&ws, "", &all);
  store.Watch(ws, [&fired] { ++fired; });
  ApplyResult r = store.Apply(4, *cmd);
  if (!r.status.ok() && fired != 0) std::abort();  // rejected commands change nothing
  for (const auto& e : r.txn_results) (void)KVEntryToJson(e).dump();
  RenderAll(store);

  std::string snap = store.Snapshot();
  Store copy;
  if (!copy.Restore(snap).ok() || copy.Snapshot() != snap) std::abort();
  return 0;
}
