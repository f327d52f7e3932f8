// /v1/kv/<key> and /v1/txn.
#include <algorithm>

#include "acl/builtin.h"
#include "api/http_api.h"
#include "catalog/json.h"
#include "core/base64.h"
#include "core/strings.h"

namespace gangway::api {
namespace {

constexpr size_t kMaxKVSize = 512 * 1024;
constexpr size_t kMaxTxnOps = 128;

bool ParseUint(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  try {
    *out = std::stoull(s);
  } catch (...) {
    return false;
  }
  return true;
}

void KVGet(Call& call) {
  std::string key = call.rest;
  bool recurse = call.req.Has("recurse");
  bool keys = call.req.Has("keys");
  bool raw = call.req.Has("raw");
  // Consul also takes the historic misspelling.
  std::string separator =
      call.req.Query("separator").value_or(call.req.Query("seperator").value_or(""));
  if (key.empty() && !recurse && !keys) return call.Error(400, "Missing key name");
  // A single key needs key:read; lists leave out what the token may not read, and with
  // acl.enable_key_list_policy need key:list on the prefix.
  if (!recurse && !keys && !Authorize(call, acl::Resource::kKey, key, acl::Level::kRead)) return;
  if ((recurse || keys) && call.backend.acl.enable_key_list_policy &&
      !Authorize(call, acl::Resource::kKey, key, acl::Level::kList)) {
    return;
  }
  auto* store = &call.backend.server->store();
  auto authz = call.authz;
  const bool token_given = call.token_given;
  QueryFn fn = [store, key, recurse, keys, raw, separator, authz, token_given](
                   catalog::WatchSet* ws, http::Response* out) {
    catalog::Index idx;
    bool filtered = false;
    auto readable = [&](const std::string& k) {
      bool ok = authz->Allowed(acl::Resource::kKey, k, acl::Level::kRead);
      filtered = filtered || !ok;
      return ok;
    };
    auto mark = [&] {
      if (filtered && token_given) out->Set("X-Consul-Results-Filtered-By-ACLs", "true");
    };
    if (keys) {
      std::vector<std::string> list;
      idx = store->KVKeys(ws, key, separator, &list);
      if (!authz->all_allowed()) {
        std::erase_if(list, [&](const std::string& k) { return !readable(k); });
      }
      if (list.empty() && !key.empty()) {  // the whole keyspace lists as [] when empty
        *out = ErrorResponse(404, "");
      } else {
        *out = JsonResponse(catalog::Json(list));
      }
      mark();
      return idx;
    }
    if (recurse) {
      std::vector<catalog::KVEntry> list;
      idx = store->KVList(ws, key, &list);
      if (!authz->all_allowed()) {
        std::erase_if(list, [&](const catalog::KVEntry& e) { return !readable(e.key); });
      }
      if (list.empty()) {
        *out = ErrorResponse(404, "");
        mark();
        return idx;
      }
      catalog::Json arr = catalog::Json::array();
      for (const auto& e : list) arr.push_back(catalog::KVEntryToJson(e));
      *out = JsonResponse(arr);
      mark();
      return idx;
    }
    std::optional<catalog::KVEntry> e;
    idx = store->KVGet(ws, key, &e);
    if (!e) {
      *out = ErrorResponse(404, "");
    } else if (raw) {
      out->status = 200;
      out->body = e->value;
      out->Set("Content-Type", "text/plain; charset=utf-8");
      out->Set("X-Content-Type-Options", "nosniff");
      out->Set("Content-Security-Policy", "sandbox");
    } else {
      *out = JsonResponse(catalog::Json::array({catalog::KVEntryToJson(*e)}));
    }
    return idx;
  };
  Blocking(call.backend, call.opts, std::move(fn), call.cancel, std::move(call.reply));
}

// lock_op: the store's refusals of a lock verb ("invalid session ...") are 500s, as Consul's.
void ReplyApplied(Call& call, catalog::Command cmd, bool lock_op = false) {
  auto reply = std::move(call.reply);
  call.backend.server->Apply(std::move(cmd), [reply, lock_op](catalog::ApplyResult r) {
    if (!r.status.ok()) {
      reply(lock_op && r.status.code() == Code::kInvalidArgument
                ? ErrorResponse(500, r.status.message())
                : StatusResponse(r.status));
      return;
    }
    reply(JsonResponse(catalog::Json(r.success)));
  });
}

void KVPut(Call& call) {
  std::string key = call.rest;
  if (key.empty()) return call.Error(400, "Missing key name");
  if (!Authorize(call, acl::Resource::kKey, key, acl::Level::kWrite)) return;
  const bool acquire = call.req.Has("acquire");
  const bool release = call.req.Has("release");
  if (int(acquire) + int(release) + int(call.req.Has("cas")) > 1) {
    auto q = call.req.target.find('?');
    return call.Error(400, "Conflicting flags: " +
                               (q == std::string::npos ? "" : call.req.target.substr(q + 1)) +
                               "\n");
  }
  catalog::KVRequest req;
  req.op = catalog::KVOp::kSet;
  req.entry.key = key;
  if (auto f = call.req.Query("flags")) {
    if (!ParseUint(*f, &req.entry.flags)) return call.Error(400, "Invalid flags value");
  }
  if (auto cas = call.req.Query("cas")) {
    uint64_t idx = 0;
    if (!ParseUint(*cas, &idx)) return call.Error(400, "Invalid cas value");
    req.op = catalog::KVOp::kCAS;
    req.entry.raft.modify_index = idx;
  }
  if (call.req.body.size() > kMaxKVSize) {
    return call.Error(413, "Request body(" + std::to_string(call.req.body.size()) +
                               " bytes) too large, max size: " + std::to_string(kMaxKVSize) +
                               " bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.");
  }
  req.entry.value = call.req.body;
  if (acquire || release) {
    req.op = acquire ? catalog::KVOp::kLock : catalog::KVOp::kUnlock;
    req.entry.session = ToLower(*call.req.Query(acquire ? "acquire" : "release"));
    if (req.entry.session.empty()) return call.Error(500, "missing session");
    // The lock-delay after an invalidation: refused here, on the leader, without a log write.
    if (acquire && call.backend.server->sessions().LockDelayed(key)) {
      return call.Json(false);
    }
    return ReplyApplied(call, req, /*lock_op=*/true);
  }
  ReplyApplied(call, req);
}

void KVDelete(Call& call) {
  catalog::KVRequest req;
  req.entry.key = call.rest;
  req.op = call.req.Has("recurse") ? catalog::KVOp::kDeleteTree : catalog::KVOp::kDelete;
  if (req.op == catalog::KVOp::kDelete && req.entry.key.empty()) {
    return call.Error(400, "Missing key name");
  }
  if (req.op == catalog::KVOp::kDeleteTree) {
    if (!call.authz->KeyWritePrefix(req.entry.key)) {
      return call.Error(403, acl::PermissionDeniedText(call.accessor, acl::Resource::kKey,
                                                       acl::Level::kWrite, req.entry.key));
    }
  } else if (!Authorize(call, acl::Resource::kKey, req.entry.key, acl::Level::kWrite)) {
    return;
  }
  if (auto cas = call.req.Query("cas")) {
    uint64_t idx = 0;
    if (!ParseUint(*cas, &idx)) return call.Error(400, "Invalid cas value");
    if (req.op == catalog::KVOp::kDeleteTree) {
      return call.Error(400, "Cannot use ?cas with ?recurse");
    }
    req.op = catalog::KVOp::kDeleteCAS;
    req.entry.raft.modify_index = idx;
  }
  ReplyApplied(call, req);
}

void KV(Call& call) {
  if (call.req.method == "GET") return KVGet(call);
  if (call.req.method == "DELETE") return KVDelete(call);
  return KVPut(call);
}

Result<catalog::KVOp> ParseVerb(const std::string& verb) {
  static const std::pair<const char*, catalog::KVOp> kVerbs[] = {
      {"set", catalog::KVOp::kSet},
      {"cas", catalog::KVOp::kCAS},
      {"delete", catalog::KVOp::kDelete},
      {"delete-cas", catalog::KVOp::kDeleteCAS},
      {"delete-tree", catalog::KVOp::kDeleteTree},
      {"get", catalog::KVOp::kGet},
      {"get-tree", catalog::KVOp::kGetTree},
      {"check-index", catalog::KVOp::kCheckIndex},
      {"check-not-exists", catalog::KVOp::kCheckNotExists},
      {"lock", catalog::KVOp::kLock},
      {"unlock", catalog::KVOp::kUnlock},
      {"check-session", catalog::KVOp::kCheckSession},
  };
  for (const auto& [name, op] : kVerbs) {
    if (verb == name) return op;
  }
  return InvalidArgument("unknown KV verb \"" + verb +
                         "\" (expected set, cas, delete, delete-cas, delete-tree, get, get-tree, "
                         "check-index, check-not-exists, lock, unlock or check-session)");
}

void Txn(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_array()) {
    return call.Error(400, "Failed to parse body: expected a JSON array of operations");
  }
  if (body.size() > kMaxTxnOps) {
    return call.Error(413, "Transaction contains too many operations (" +
                               std::to_string(body.size()) + " > " + std::to_string(kMaxTxnOps) +
                               ")");
  }
  catalog::TxnRequest txn;
  for (size_t i = 0; i < body.size(); ++i) {
    const auto& op = body[i];
    std::string where = "operation " + std::to_string(i) + ": ";
    if (!op.is_object() || op.size() != 1 || !op.begin().value().is_object()) {
      return call.Error(400, where + "expected an object with one of KV, Node, Service, Check");
    }
    std::string kind = op.begin().key();
    if (kind != "KV") {
      return call.Error(400, where + "\"" + kind +
                                 "\" operations are not supported yet; only KV operations are");
    }
    const auto& kv = op.begin().value();
    catalog::KVRequest req;
    for (const auto& [k, v] : kv.items()) {
      if (k == "Verb") {
        if (!v.is_string()) return call.Error(400, where + "KV.Verb must be a string");
        auto verb = ParseVerb(v.get<std::string>());
        if (!verb.ok()) return call.Error(400, where + verb.status().message());
        req.op = *verb;
      } else if (k == "Key") {
        if (!v.is_string()) return call.Error(400, where + "KV.Key must be a string");
        req.entry.key = v.get<std::string>();
      } else if (k == "Value") {
        if (v.is_null()) continue;
        if (!v.is_string()) return call.Error(400, where + "KV.Value must be a base64 string");
        auto decoded = Base64Decode(v.get<std::string>());
        if (!decoded.ok()) return call.Error(400, where + "KV.Value: " + decoded.status().message());
        req.entry.value = *decoded;
      } else if (k == "Flags" || k == "Index") {
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
          return call.Error(400, where + "KV." + k + " must be a non-negative integer");
        }
        (k == "Flags" ? req.entry.flags : req.entry.raft.modify_index) = v.get<uint64_t>();
      } else if (k == "Session" || k == "Namespace" || k == "Partition") {
        if (v.is_string()) req.entry.session = k == "Session" ? v.get<std::string>() : "";
      } else {
        return call.Error(400, where + "unknown field \"KV." + k + "\"");
      }
    }
    // Reads need key:read (get-tree: on the prefix, as Consul's txn checks), writes key:write.
    const bool read = req.op == catalog::KVOp::kGet || req.op == catalog::KVOp::kGetTree ||
                      req.op == catalog::KVOp::kCheckIndex ||
                      req.op == catalog::KVOp::kCheckNotExists ||
                      req.op == catalog::KVOp::kCheckSession;
    if (req.op == catalog::KVOp::kDeleteTree && !call.authz->KeyWritePrefix(req.entry.key)) {
      return call.Error(403, acl::PermissionDeniedText(call.accessor, acl::Resource::kKey,
                                                       acl::Level::kWrite, req.entry.key));
    }
    if (!Authorize(call, acl::Resource::kKey, req.entry.key,
                   read ? acl::Level::kRead : acl::Level::kWrite)) {
      return;
    }
    txn.ops.push_back(std::move(req));
  }
  auto reply = std::move(call.reply);
  call.backend.server->Apply(txn, [reply](catalog::ApplyResult r) {
    if (!r.status.ok() && r.txn_errors.empty()) {
      reply(StatusResponse(r.status));
      return;
    }
    catalog::Json out;
    if (!r.txn_errors.empty()) {
      out["Results"] = nullptr;
      catalog::Json errs = catalog::Json::array();
      for (const auto& e : r.txn_errors) errs.push_back({{"OpIndex", e.op_index}, {"What", e.what}});
      out["Errors"] = errs;
      reply(JsonResponse(out, 409));
      return;
    }
    catalog::Json results = catalog::Json::array();
    for (const auto& e : r.txn_results) results.push_back({{"KV", catalog::KVEntryToJson(e)}});
    out["Results"] = results;
    out["Errors"] = nullptr;
    reply(JsonResponse(out));
  });
}

}  // namespace

void AddKVRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/kv/", {"GET", "PUT", "DELETE"}, KV, true});
  routes->push_back({"/v1/txn", {"PUT"}, Txn, true});
}

}  // namespace gangway::api
