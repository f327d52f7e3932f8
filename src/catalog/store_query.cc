// The prepared queries of the state store: one table keyed by ID, each query kept whole as
// PreparedQueryRequest carries it, with the uniqueness rules of Consul's prepared query
// transaction (state/prepared_query.go) and its create/modify indexes. The server validates a
// query (catalog/prepared_query.h) before it reaches the log. Store::Impl is in
// internal/store_impl.h.
#include <string>
#include <vector>

#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kPreparedQueriesKey;

namespace {

std::string StringField(const Json& q, const char* field) {
  auto it = q.find(field);
  return it != q.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool IsTemplate(const Json& q) {
  auto t = q.find("Template");
  return t != q.end() && t->is_object() && !StringField(*t, "Type").empty();
}

Index CreateIndexOf(const Json& q) {
  auto it = q.find("CreateIndex");
  return it != q.end() && it->is_number_unsigned() ? it->get<Index>() : 0;
}

}  // namespace

ApplyResult Store::Impl::PreparedQuery(Changes& ch, const PreparedQueryRequest& req) {
  ApplyResult r;
  if (req.op == PreparedQueryOp::kDelete) {
    if (t.prepared_queries.erase(req.id) == 0) return r;  // nothing to delete: no change
  } else {
    if (!req.query.is_object()) {
      return internal::Rejected(InvalidArgument("prepared query is not an object"));
    }
    const std::string id = StringField(req.query, "ID");
    if (id.empty()) return internal::Rejected(InvalidArgument("Missing query ID"));
    const std::string name = StringField(req.query, "Name");
    const bool tmpl = IsTemplate(req.query);
    for (const auto& [other_id, other] : t.prepared_queries) {
      if (other_id == id) continue;
      if (!name.empty() && StringField(other, "Name") == name) {
        return internal::Rejected(
            InvalidArgument("name '" + name + "' aliases an existing query name"));
      }
      if (!name.empty() && other_id == name) {
        return internal::Rejected(
            InvalidArgument("name '" + name + "' aliases an existing query ID"));
      }
      if (tmpl && name.empty() && IsTemplate(other) && StringField(other, "Name").empty()) {
        return internal::Rejected(
            InvalidArgument("a query template with an empty name already exists"));
      }
    }
    const std::string session = StringField(req.query, "Session");
    if (!session.empty() && t.sessions.count(session) == 0) {
      return internal::Rejected(InvalidArgument("invalid session \"" + session + "\""));
    }
    Json stored = req.query;
    auto existing = t.prepared_queries.find(id);
    Index created = existing != t.prepared_queries.end() ? CreateIndexOf(existing->second) : 0;
    stored["CreateIndex"] = created != 0 ? created : ch.index;
    stored["ModifyIndex"] = ch.index;
    t.prepared_queries[id] = std::move(stored);
  }
  t.prepared_queries_index = ch.index;
  ch.keys.emplace_back(kPreparedQueriesKey);
  return r;
}

void Store::Impl::DeleteSessionQueries(Changes& ch, const std::string& id) {
  std::vector<std::string> bound;
  for (const auto& [qid, q] : t.prepared_queries) {
    if (StringField(q, "Session") == id) bound.push_back(qid);
  }
  if (bound.empty()) return;
  for (const auto& qid : bound) t.prepared_queries.erase(qid);
  t.prepared_queries_index = ch.index;
  ch.keys.emplace_back(kPreparedQueriesKey);
}

Index Store::PreparedQueries(WatchSet* ws, std::vector<Json>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kPreparedQueriesKey));
  out->clear();
  for (const auto& [id, q] : s.t.prepared_queries) out->push_back(q);
  return s.Clamp(s.t.prepared_queries_index);
}

Index Store::PreparedQueryGet(WatchSet* ws, std::string_view id, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kPreparedQueriesKey));
  auto it = s.t.prepared_queries.find(id);
  *out = it == s.t.prepared_queries.end() ? Json(nullptr) : it->second;
  return s.Clamp(s.t.prepared_queries_index);
}

}  // namespace gangway::catalog
