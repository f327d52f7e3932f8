#include "catalog/commands.h"

#include <exception>

#include "catalog/internal/json_forms.h"
#include "catalog/json.h"

namespace gangway::catalog {
namespace {

using internal::FieldReader;
using internal::Form;

// Bounds for a decoder of untrusted bytes. A command is one Raft log entry: Consul caps a
// transaction request at 512 KiB and a KV value at 512 KiB, so these are generous.
constexpr size_t kMaxCommandBytes = 64 << 20;
constexpr int kMaxDepth = 64;  // Proxy.Config is opaque user JSON, nested a few levels at most
constexpr size_t kMaxTxnOps = 4096;
constexpr size_t kMaxChecks = 4096;
constexpr size_t kMaxCoordinateUpdates = 4096;

Result<Json> ParseBody(std::string_view bytes) {
  auto body = internal::ParseMsgpack(bytes, kMaxDepth);
  if (!body.ok()) return InvalidArgument("malformed command body: " + body.status().message());
  if (!body->is_object()) {
    return InvalidArgument(std::string("malformed command body: expected a map, got ") +
                           internal::TypeName(*body));
  }
  return body;
}

Json KVRequestBody(const KVRequest& req) {
  return {{"Op", static_cast<int>(req.op)},
          {"Entry", internal::KVEntryToJson(req.entry, Form::kStorage)}};
}

Json Body(const RegisterRequest& r) {
  Json j = {{"Node", internal::NodeToJson(r.node, Form::kStorage)},
            {"SkipNodeUpdate", r.skip_node_update}};
  if (r.service) j["Service"] = internal::NodeServiceToJson(*r.service, Form::kStorage);
  Json checks = Json::array();
  for (const auto& c : r.checks) checks.push_back(internal::HealthCheckToJson(c, Form::kStorage));
  j["Checks"] = std::move(checks);
  return j;
}

Json Body(const DeregisterRequest& r) {
  return {{"Node", r.node}, {"ServiceID", r.service_id}, {"CheckID", r.check_id}};
}

Json Body(const KVRequest& r) { return KVRequestBody(r); }

Json Body(const TxnRequest& r) {
  Json ops = Json::array();
  for (const auto& op : r.ops) ops.push_back(KVRequestBody(op));
  return {{"Ops", std::move(ops)}};
}

Json Body(const RestoreRequest& r) {
  return {{"Snapshot", Json::binary(std::vector<uint8_t>(r.snapshot.begin(), r.snapshot.end()))}};
}

Json Body(const ConnectCARequest& r) {
  Json j = {{"Op", static_cast<int>(r.op)}, {"CAS", r.cas}};
  if (r.op != CAOp::kSetRoots) j["Config"] = r.config;
  if (r.op != CAOp::kSetConfig) j["Roots"] = r.roots;
  return j;
}

Result<Command> DecodeConnectCA(const Json& body) {
  ConnectCARequest req;
  FieldReader r(body, "");
  int op = 0;
  r.Int("Op", &op).Uint64("CAS", &req.cas);
  if (!r.ok()) return r.status();
  if (op < 0 || op > static_cast<int>(CAOp::kSetConfigAndRoots)) {
    return InvalidArgument("Op: unknown CA operation " + std::to_string(op));
  }
  req.op = static_cast<CAOp>(op);
  auto object = [&](std::string_view key, Json* out) -> Status {
    const Json* v = r.Find(key);
    if (v == nullptr || !v->is_object()) {
      return InvalidArgument(std::string(key) + ": expected a map");
    }
    *out = *v;
    return Status::Ok();
  };
  if (req.op != CAOp::kSetRoots) {
    if (Status s = object("Config", &req.config); !s.ok()) return s;
  }
  if (req.op != CAOp::kSetConfig) {
    if (Status s = object("Roots", &req.roots); !s.ok()) return s;
    const Json* list = req.roots.contains("Roots") ? &req.roots["Roots"] : nullptr;
    if (list == nullptr || !list->is_array()) return InvalidArgument("Roots.Roots: expected a list");
    for (size_t i = 0; i < list->size(); ++i) {
      if (!(*list)[i].is_object()) {
        return InvalidArgument("Roots.Roots[" + std::to_string(i) + "]: expected a map");
      }
    }
  }
  return Command(std::move(req));
}

Json Body(const ConfigEntryRequest& r) {
  Json j = {{"Op", static_cast<int>(r.op)}, {"Kind", r.kind}, {"Name", r.name}, {"CAS", r.cas}};
  if (r.op == ConfigEntryOp::kUpsert || r.op == ConfigEntryOp::kUpsertCAS) j["Entry"] = r.entry;
  return j;
}

Result<Command> DecodeConfigEntry(const Json& body) {
  ConfigEntryRequest req;
  FieldReader r(body, "");
  int op = 0;
  r.Int("Op", &op).String("Kind", &req.kind).String("Name", &req.name).Uint64("CAS", &req.cas);
  if (!r.ok()) return r.status();
  if (op < 0 || op > static_cast<int>(ConfigEntryOp::kDeleteCAS)) {
    return InvalidArgument("Op: unknown config entry operation " + std::to_string(op));
  }
  req.op = static_cast<ConfigEntryOp>(op);
  if (req.kind.empty()) return InvalidArgument("Kind: must not be empty");
  if (req.name.empty()) return InvalidArgument("Name: must not be empty");
  if (req.op == ConfigEntryOp::kUpsert || req.op == ConfigEntryOp::kUpsertCAS) {
    const Json* e = r.Find("Entry");
    if (e == nullptr || !e->is_object()) return InvalidArgument("Entry: expected a map");
    req.entry = *e;
  }
  return Command(std::move(req));
}

Json Body(const PreparedQueryRequest& r) {
  Json j = {{"Op", static_cast<int>(r.op)}};
  if (r.op == PreparedQueryOp::kSet) {
    j["Query"] = r.query;
  } else {
    j["ID"] = r.id;
  }
  return j;
}

Result<Command> DecodePreparedQueryCommand(const Json& body) {
  PreparedQueryRequest req;
  FieldReader r(body, "");
  int op = 0;
  r.Int("Op", &op).String("ID", &req.id);
  if (!r.ok()) return r.status();
  if (op < 0 || op > static_cast<int>(PreparedQueryOp::kDelete)) {
    return InvalidArgument("Op: unknown prepared query operation " + std::to_string(op));
  }
  req.op = static_cast<PreparedQueryOp>(op);
  if (req.op == PreparedQueryOp::kSet) {
    const Json* q = r.Find("Query");
    if (q == nullptr || !q->is_object()) return InvalidArgument("Query: expected a map");
    req.query = *q;
  } else if (req.id.empty()) {
    return InvalidArgument("ID: must not be empty");
  }
  return Command(std::move(req));
}

Json Body(const SessionRequest& r) {
  return {{"Op", static_cast<int>(r.op)},
          {"Session", internal::SessionToJson(r.session, Form::kStorage)}};
}

Result<Command> DecodeSession(const Json& body) {
  SessionRequest req;
  FieldReader r(body, "");
  int op = 0;
  r.Int("Op", &op);
  if (!r.ok()) return r.status();
  if (op < 0 || op > static_cast<int>(SessionOp::kDestroy)) {
    return InvalidArgument("Op: unknown session operation " + std::to_string(op));
  }
  req.op = static_cast<SessionOp>(op);
  const Json* sess = r.Find("Session");
  if (sess == nullptr || !sess->is_object()) return InvalidArgument("Session: expected a map");
  if (Status s = internal::DecodeSessionAt(*sess, "Session", &req.session); !s.ok()) return s;
  if (req.session.id.empty()) return InvalidArgument("Session.ID: must not be empty");
  return Command(std::move(req));
}

Json Body(const AclRequest& r) {
  Json j = {{"Op", static_cast<int>(r.op)}, {"ID", r.id}, {"Kind", r.kind}, {"CAS", r.cas}};
  if (!r.object.is_null()) j["Object"] = r.object;
  return j;
}

Result<Command> DecodeAcl(const Json& body) {
  AclRequest req;
  FieldReader r(body, "");
  int op = 0;
  r.Int("Op", &op).String("ID", &req.id).String("Kind", &req.kind).Uint64("CAS", &req.cas);
  if (!r.ok()) return r.status();
  if (op < 0 || op > static_cast<int>(AclOp::kReplicate)) {
    return InvalidArgument("Op: unknown ACL operation " + std::to_string(op));
  }
  req.op = static_cast<AclOp>(op);
  const Json* obj = r.Find("Object");
  switch (req.op) {
    case AclOp::kTokenSet:
    case AclOp::kPolicySet:
    case AclOp::kRoleSet:
    case AclOp::kBootstrap:
      if (obj == nullptr || !obj->is_object()) return InvalidArgument("Object: expected a map");
      req.object = *obj;
      break;
    case AclOp::kReplicate:
      if (obj == nullptr || !obj->is_array()) return InvalidArgument("Object: expected a list");
      if (req.kind != "policies" && req.kind != "roles" && req.kind != "tokens") {
        return InvalidArgument("Kind: expected policies, roles or tokens");
      }
      req.object = *obj;
      break;
    default:
      if (req.id.empty()) return InvalidArgument("ID: must not be empty");
  }
  return Command(std::move(req));
}

Json Body(const CoordinateBatchRequest& r) {
  Json updates = Json::array();
  for (const auto& e : r.updates) updates.push_back(CoordinateEntryToJson(e));
  return {{"Updates", std::move(updates)}};
}

Result<Command> DecodeCoordinateBatch(const Json& body) {
  CoordinateBatchRequest req;
  FieldReader r(body, "");
  const Json* list = r.Find("Updates");
  if (list == nullptr) return Command(std::move(req));
  if (!list->is_array()) return InvalidArgument("Updates: expected a list");
  if (list->size() > kMaxCoordinateUpdates) {
    return InvalidArgument("Updates: more than " + std::to_string(kMaxCoordinateUpdates));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    CoordinateEntry e;
    if (Status s = DecodeCoordinateEntryAt((*list)[i], "Updates[" + std::to_string(i) + "]", &e);
        !s.ok()) {
      return s;
    }
    req.updates.push_back(std::move(e));
  }
  return Command(std::move(req));
}

Result<Command> DecodeRestore(const Json& body) {
  const Json* snap = nullptr;
  for (const auto& [k, v] : body.items()) {
    if (k == "Snapshot") snap = &v;
  }
  if (!snap || !snap->is_binary()) {
    return InvalidArgument("Snapshot: expected binary snapshot bytes");
  }
  const auto& b = snap->get_binary();
  return Command(RestoreRequest{std::string(b.begin(), b.end())});
}

Status DecodeKVRequest(const Json& j, const std::string& path, bool in_txn, KVRequest* out) {
  FieldReader r(j, path);
  uint64_t op = 0;
  r.Uint64("Op", &op);
  if (!r.ok()) return r.status();
  if (op > static_cast<uint64_t>(KVOp::kCheckSession)) {
    return InvalidArgument(r.Path("Op") + ": unknown KV operation " + std::to_string(op));
  }
  out->op = static_cast<KVOp>(op);
  if (!in_txn && TxnOnly(out->op)) {
    return InvalidArgument(r.Path("Op") + ": KV operation " + std::to_string(op) +
                           " is only valid inside a transaction");
  }
  if (const Json* e = r.Find("Entry")) {
    return internal::DecodeKVEntryAt(*e, r.Path("Entry"), &out->entry);
  }
  return Status::Ok();
}

Result<Command> DecodeRegister(const Json& body) {
  RegisterRequest req;
  FieldReader r(body, "");
  r.Bool("SkipNodeUpdate", &req.skip_node_update);
  if (!r.ok()) return r.status();
  if (const Json* n = r.Find("Node")) {
    if (Status s = internal::DecodeNodeAt(*n, "Node", &req.node); !s.ok()) return s;
  }
  if (const Json* svc = r.Find("Service")) {
    req.service.emplace();
    if (Status s = internal::DecodeNodeServiceAt(*svc, "Service", &*req.service); !s.ok()) {
      return s;
    }
  }
  if (const Json* checks = r.Find("Checks")) {
    if (!checks->is_array()) {
      return InvalidArgument(std::string("Checks: expected an array, got ") +
                             internal::TypeName(*checks));
    }
    if (checks->size() > kMaxChecks) {
      return InvalidArgument("Checks: more than " + std::to_string(kMaxChecks) + " checks");
    }
    for (size_t i = 0; i < checks->size(); ++i) {
      HealthCheck c;
      Status s =
          internal::DecodeHealthCheckAt((*checks)[i], "Checks[" + std::to_string(i) + "]", &c);
      if (!s.ok()) return s;
      req.checks.push_back(std::move(c));
    }
  }
  return Command(std::move(req));
}

Result<Command> DecodeDeregister(const Json& body) {
  DeregisterRequest req;
  FieldReader r(body, "");
  r.String("Node", &req.node).String("ServiceID", &req.service_id).String("CheckID", &req.check_id);
  if (!r.ok()) return r.status();
  return Command(std::move(req));
}

Result<Command> DecodeKV(const Json& body) {
  KVRequest req;
  if (Status s = DecodeKVRequest(body, "", /*in_txn=*/false, &req); !s.ok()) return s;
  return Command(std::move(req));
}

Result<Command> DecodeTxn(const Json& body) {
  TxnRequest req;
  FieldReader r(body, "");
  if (const Json* ops = r.Find("Ops")) {
    if (!ops->is_array()) {
      return InvalidArgument(std::string("Ops: expected an array, got ") +
                             internal::TypeName(*ops));
    }
    if (ops->size() > kMaxTxnOps) {
      return InvalidArgument("Ops: more than " + std::to_string(kMaxTxnOps) + " operations");
    }
    for (size_t i = 0; i < ops->size(); ++i) {
      KVRequest op;
      Status s = DecodeKVRequest((*ops)[i], "Ops[" + std::to_string(i) + "]", /*in_txn=*/true, &op);
      if (!s.ok()) return s;
      req.ops.push_back(std::move(op));
    }
  }
  return Command(std::move(req));
}

}  // namespace

namespace internal {
namespace {

// Builds the DOM like from_msgpack does, but stops at a nesting limit.
class BoundedDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;
  BoundedDomParser(Json& root, int max_depth)
      : Base(root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool start_object(std::size_t n) { return Enter() && Base::start_object(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool start_array(std::size_t n) { return Enter() && Base::start_array(n); }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_;
  }
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

Result<Json> ParseMsgpack(std::string_view bytes, int max_depth) {
  Json out;
  BoundedDomParser sax(out, max_depth);
  bool ok = false;
  try {
    ok = Json::sax_parse(bytes.begin(), bytes.end(), &sax, Json::input_format_t::msgpack,
                         /*strict=*/true);
  } catch (const std::exception& e) {
    return InvalidArgument(e.what());
  }
  if (sax.too_deep()) {
    return InvalidArgument("nested deeper than " + std::to_string(max_depth) + " levels");
  }
  if (!ok || sax.is_errored()) return InvalidArgument("not valid MessagePack");
  return out;
}

}  // namespace internal

std::string EncodeCommand(const Command& cmd) {
  std::string out(1, static_cast<char>(cmd.index()));
  static_assert(
      std::is_same_v<
          std::variant_alternative_t<static_cast<size_t>(CommandType::kCoordinateBatch), Command>,
          CoordinateBatchRequest>,
      "Command alternatives must be in CommandType order");
  Json body = std::visit([](const auto& c) { return Body(c); }, cmd);
  Json::to_msgpack(body, out);
  return out;
}

Result<Command> DecodeCommand(std::string_view bytes) {
  if (bytes.empty()) return InvalidArgument("empty command");
  if (bytes.size() > kMaxCommandBytes) {
    return InvalidArgument("command of " + std::to_string(bytes.size()) +
                           " bytes exceeds the limit of " + std::to_string(kMaxCommandBytes));
  }
  auto type = static_cast<uint8_t>(bytes[0]);
  if (type > static_cast<uint8_t>(CommandType::kCoordinateBatch)) {
    return InvalidArgument("unknown command type " + std::to_string(type));
  }
  auto body = ParseBody(bytes.substr(1));
  if (!body.ok()) return body.status();
  try {
    switch (static_cast<CommandType>(type)) {
      case CommandType::kRegister:
        return DecodeRegister(*body);
      case CommandType::kDeregister:
        return DecodeDeregister(*body);
      case CommandType::kKV:
        return DecodeKV(*body);
      case CommandType::kTxn:
        return DecodeTxn(*body);
      case CommandType::kRestore:
        return DecodeRestore(*body);
      case CommandType::kConnectCA:
        return DecodeConnectCA(*body);
      case CommandType::kConfigEntry:
        return DecodeConfigEntry(*body);
      case CommandType::kSession:
        return DecodeSession(*body);
      case CommandType::kAcl:
        return DecodeAcl(*body);
      case CommandType::kPreparedQuery:
        return DecodePreparedQueryCommand(*body);
      case CommandType::kCoordinateBatch:
        return DecodeCoordinateBatch(*body);
    }
  } catch (const std::exception& e) {
    // The field readers check types before every get<>(), so this is a bug; still, a decoder of
    // untrusted bytes reports rather than throws.
    return Internal(std::string("decoding command: ") + e.what());
  }
  return InvalidArgument("unknown command type " + std::to_string(type));
}

std::string EncodeApplyResult(const ApplyResult& r) {
  Json results = Json::array();
  for (const auto& e : r.txn_results) results.push_back(internal::KVEntryToJson(e, Form::kStorage));
  Json errors = Json::array();
  for (const auto& e : r.txn_errors) errors.push_back({{"OpIndex", e.op_index}, {"What", e.what}});
  Json j = {{"Code", static_cast<int>(r.status.code())},
            {"Error", r.status.message()},
            {"Success", r.success},
            {"Results", std::move(results)},
            {"Errors", std::move(errors)}};
  std::string out;
  Json::to_msgpack(j, out);
  return out;
}

Result<ApplyResult> DecodeApplyResult(std::string_view bytes) {
  if (bytes.size() > kMaxCommandBytes) return InvalidArgument("apply result too large");
  auto body = ParseBody(bytes);
  if (!body.ok()) return InvalidArgument("apply result: " + body.status().message());
  try {
    ApplyResult out;
    FieldReader r(*body, "");
    int code = 0;
    std::string error;
    r.Int("Code", &code).String("Error", &error).Bool("Success", &out.success);
    if (!r.ok()) return r.status();
    if (code < 0 || code > static_cast<int>(Code::kInternal)) {
      return InvalidArgument("apply result: unknown Code " + std::to_string(code));
    }
    out.status = code == 0 ? Status::Ok() : Status(static_cast<Code>(code), error);
    if (const Json* res = r.Find("Results")) {
      if (!res->is_array()) return InvalidArgument("apply result: Results must be an array");
      for (size_t i = 0; i < res->size(); ++i) {
        KVEntry e;
        if (Status s = internal::DecodeKVEntryAt((*res)[i], "Results[" + std::to_string(i) + "]", &e);
            !s.ok()) {
          return s;
        }
        out.txn_results.push_back(std::move(e));
      }
    }
    if (const Json* errs = r.Find("Errors")) {
      if (!errs->is_array()) return InvalidArgument("apply result: Errors must be an array");
      for (size_t i = 0; i < errs->size(); ++i) {
        FieldReader er((*errs)[i], "Errors[" + std::to_string(i) + "]");
        TxnError e;
        er.Int("OpIndex", &e.op_index).String("What", &e.what);
        if (!er.ok()) return er.status();
        out.txn_errors.push_back(std::move(e));
      }
    }
    return out;
  } catch (const std::exception& e) {
    return Internal(std::string("decoding apply result: ") + e.what());
  }
}

}  // namespace gangway::catalog
