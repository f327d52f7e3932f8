// /v1/operator/keyring: the gossip encryption keyring of every member, through Serf's key
// queries. GET lists, POST installs, PUT makes a key primary, DELETE removes one; a server runs
// the operation on its WAN pool and then its LAN pool, a client agent on its LAN pool only.
#include <algorithm>
#include <memory>

#include "api/http_api.h"
#include "core/base64.h"
#include "core/strings.h"
#include "gossip/security.h"

namespace gangway::api {
namespace {

enum class KeyOp { kList, kInstall, kUse, kRemove };

struct PoolAnswer {
  bool wan = false;
  Status status;
  gossip::KeyResponse resp;
};

// Runs `op` on each pool in turn (a key query waits for every member), then calls done.
void RunOnPools(std::vector<std::pair<gossip::Pool*, bool>> pools, KeyOp op, std::string key,
                uint8_t relay, std::function<void(std::vector<PoolAnswer>)> done) {
  struct State {
    std::vector<std::pair<gossip::Pool*, bool>> pools;
    KeyOp op;
    std::string key;
    uint8_t relay;
    std::vector<PoolAnswer> answers;
    std::function<void(std::vector<PoolAnswer>)> done;
  };
  auto st = std::make_shared<State>(State{std::move(pools), op, std::move(key), relay, {},
                                          std::move(done)});
  auto next = std::make_shared<std::function<void()>>();
  *next = [st, weak = std::weak_ptr<std::function<void()>>(next)] {
    if (st->answers.size() == st->pools.size()) return st->done(std::move(st->answers));
    auto [pool, wan] = st->pools[st->answers.size()];
    auto again = weak.lock();
    gossip::Serf::KeyCallback cb = [st, wan = wan, again](Status s,
                                                          const gossip::KeyResponse& r) {
      st->answers.push_back({wan, std::move(s), r});
      (*again)();
    };
    gossip::Serf& serf = pool->serf();
    switch (st->op) {
      case KeyOp::kList: serf.ListKeys(std::move(cb), st->relay); break;
      case KeyOp::kInstall: serf.InstallKey(st->key, std::move(cb), st->relay); break;
      case KeyOp::kUse: serf.UseKey(st->key, std::move(cb), st->relay); break;
      case KeyOp::kRemove: serf.RemoveKey(st->key, std::move(cb), st->relay); break;
    }
  };
  // The callbacks hold `next` (through `again`) until the last one has run.
  (*next)();
}

std::string PoolName(const PoolAnswer& a, const std::string& dc) {
  return a.wan ? "WAN" : dc + " (LAN)";
}

catalog::Json CountsJson(const std::map<std::string, int>& m) {
  catalog::Json j = catalog::Json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

// Consul's KeyringResponse. Partition is omitted (CE), Messages only when there are some.
catalog::Json AnswerJson(const PoolAnswer& a, const std::string& dc) {
  catalog::Json j = catalog::Json::object();
  j["WAN"] = a.wan;
  j["Datacenter"] = dc;
  j["Segment"] = "";
  if (!a.resp.messages.empty()) {
    catalog::Json m = catalog::Json::object();
    for (const auto& [node, msg] : a.resp.messages) m[node] = msg;
    j["Messages"] = m;
  }
  j["Keys"] = CountsJson(a.resp.keys);
  j["PrimaryKeys"] = CountsJson(a.resp.primary_keys);
  j["NumNodes"] = a.resp.num_nodes;
  return j;
}

// go-multierror's text, which is what Consul's HTTP API sends for failed keyring operations.
std::string MultiError(const std::vector<std::string>& errs) {
  if (errs.size() == 1) return "1 error occurred:\n\t* " + errs[0] + "\n\n";
  std::string out = std::to_string(errs.size()) + " errors occurred:";
  for (const auto& e : errs) out += "\n\t* " + e;
  return out + "\n\n";
}

// Reads {"Key": "<base64>"} (field name case-insensitive, as Go's decoder) and checks the key
// before anything is gossiped; replies 400 and returns false when it is unusable.
bool ReadKey(Call& call, std::string* key) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return false;
  if (!body.is_object()) {
    call.Error(400, "Request decode failed: expected a JSON object like {\"Key\": \"<base64>\"}, "
                    "got " + std::string(body.type_name()));
    return false;
  }
  const catalog::Json* value = nullptr;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (ToLower(it.key()) == "key") value = &it.value();
  }
  if (value == nullptr || value->is_null()) {
    call.Error(400, "Missing \"Key\" in the request body: expected {\"Key\": \"<base64>\"}");
    return false;
  }
  if (!value->is_string()) {
    call.Error(400, "Request decode failed: \"Key\" must be a string (a base64 gossip key), got " +
                        std::string(value->type_name()));
    return false;
  }
  *key = value->get<std::string>();
  if (key->empty()) {
    call.Error(400, "Missing \"Key\" in the request body: expected {\"Key\": \"<base64>\"}");
    return false;
  }
  auto raw = Base64Decode(*key);
  if (!raw.ok()) {
    call.Error(400, "Invalid key: not valid base64: " + raw.status().message());
    return false;
  }
  if (raw->size() != 16 && raw->size() != 24 && raw->size() != 32) {
    call.Error(400, "Invalid key: key size must be 16, 24 or 32 bytes, not " +
                        std::to_string(raw->size()));
    return false;
  }
  return true;
}

void Keyring(Call& call) {
  if (!Authorize(call, acl::Resource::kKeyring, "",
                 call.req.method == "GET" ? acl::Level::kRead : acl::Level::kWrite)) {
    return;
  }
  KeyOp op = KeyOp::kList;
  if (call.req.method == "POST") op = KeyOp::kInstall;
  if (call.req.method == "PUT") op = KeyOp::kUse;
  if (call.req.method == "DELETE") op = KeyOp::kRemove;

  std::string key;
  if (op != KeyOp::kList && !ReadKey(call, &key)) return;
  uint8_t relay = 0;
  if (auto rf = call.req.Query("relay-factor"); rf && !rf->empty()) {
    const std::string& text = *rf;
    const size_t sign = text[0] == '-' || text[0] == '+' ? 1 : 0;
    if (text.size() == sign || text.size() > 9 ||
        text.find_first_not_of("0123456789", sign) != std::string::npos) {
      return call.Error(400, "Error parsing relay factor: strconv.Atoi: parsing \"" + text +
                                 "\": invalid syntax");
    }
    const int n = std::stoi(text);
    if (n < 0 || n > 5) {
      return call.Error(400, "Invalid relay-factor: Relay factor must be in range: [0, 5]");
    }
    relay = static_cast<uint8_t>(n);
  }
  bool local_only = false;
  if (auto lo = call.req.Query("local-only"); lo && !lo->empty()) {
    if (!ParseBool(*lo, &local_only)) {
      return call.Error(400, "Error parsing local-only: strconv.ParseBool: parsing \"" + *lo +
                                 "\": invalid syntax");
    }
    if (local_only && op != KeyOp::kList) {
      return call.Error(400, "Invalid use of local-only: local-only can only be set for list "
                             "requests");
    }
  }

  std::vector<std::pair<gossip::Pool*, bool>> pools;
  if (call.backend.wan != nullptr && !local_only) pools.push_back({call.backend.wan, true});
  if (call.backend.lan != nullptr) pools.push_back({call.backend.lan, false});
  if (pools.empty()) return call.Error(500, "Gossip is disabled on this agent");

  std::string dc = call.backend.info.datacenter;
  auto reply = std::move(call.reply);
  RunOnPools(std::move(pools), op, key, relay,
             [reply, dc, op](std::vector<PoolAnswer> answers) {
               std::vector<std::string> errs;
               catalog::Json list = catalog::Json::array();
               for (const auto& a : answers) {
                 list.push_back(AnswerJson(a, dc));
                 if (a.status.ok()) continue;
                 errs.push_back(PoolName(a, dc) + " error: " + a.status.message());
                 for (const auto& [node, msg] : a.resp.messages) errs.push_back(node + ": " + msg);
               }
               if (!errs.empty()) return reply(ErrorResponse(500, MultiError(errs)));
               if (op == KeyOp::kList) return reply(JsonResponse(list));
               reply(http::Response{});
             });
}

}  // namespace

void AddOperatorRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/operator/keyring", {"GET", "POST", "PUT", "DELETE"}, Keyring});
}

}  // namespace gangway::api
