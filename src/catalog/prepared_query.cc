#include "catalog/prepared_query.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "catalog/internal/json_forms.h"
#include "core/duration.h"
#include "core/regexp.h"

namespace gangway::catalog {
namespace {

constexpr const char* kRedactedToken = "<hidden>";
constexpr size_t kMaxDepth = 32;

// A user's text in a message: double-quoted with JSON's escapes (Go's %q for printable text).
std::string Quoted(std::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

Status DecodeFailed(const std::string& why) {
  return InvalidArgument("Request decode failed: " + why);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t Depth(const Json& j) {
  if (!j.is_structured()) return 0;
  size_t deepest = 0;
  for (const auto& v : j) deepest = std::max(deepest, Depth(v));
  return deepest + 1;
}

Json ListOrNull(const std::vector<std::string>& v) { return v.empty() ? Json(nullptr) : Json(v); }
Json MapOrNull(const StringMap& m) { return m.empty() ? Json(nullptr) : Json(m); }

// ---- `${...}` texts: Consul's templates use HIL; the part of it a template can reach (its
// variables and match(N)) is what this reads.

struct Piece {
  bool literal = true;
  std::string text;  // the literal, or the variable / function name
  bool call = false;
  int64_t arg = 0;
};

Result<std::vector<Piece>> ParseInterpolated(std::string_view s) {
  std::vector<Piece> out;
  std::string lit;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 3, "$${") == 0) {
      lit += "${";
      i += 3;
      continue;
    }
    if (s.compare(i, 2, "${") != 0) {
      lit += s[i++];
      continue;
    }
    const size_t open = i;
    size_t close = s.find('}', i + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument("unterminated '${' at column " + std::to_string(open + 1));
    }
    std::string_view expr = s.substr(i + 2, close - i - 2);
    while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.front()))) expr.remove_prefix(1);
    while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back()))) expr.remove_suffix(1);
    Piece p;
    p.literal = false;
    size_t n = 0;
    while (n < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[n])) ||
                               expr[n] == '_' || expr[n] == '.' || expr[n] == '-')) {
      ++n;
    }
    if (n == 0 || std::isdigit(static_cast<unsigned char>(expr[0]))) {
      return InvalidArgument("expected a variable such as name.full or a call such as match(1) "
                             "inside '${...}' at column " + std::to_string(open + 1));
    }
    p.text = std::string(expr.substr(0, n));
    std::string_view rest = expr.substr(n);
    if (!rest.empty()) {
      // A call with one integer argument: match(N).
      if (rest.front() != '(' || rest.back() != ')') {
        return InvalidArgument("unexpected " + Quoted(rest) + " after " +
                               Quoted(p.text) + " at column " + std::to_string(open + 1));
      }
      std::string_view arg = rest.substr(1, rest.size() - 2);
      while (!arg.empty() && std::isspace(static_cast<unsigned char>(arg.front()))) arg.remove_prefix(1);
      while (!arg.empty() && std::isspace(static_cast<unsigned char>(arg.back()))) arg.remove_suffix(1);
      if (arg.empty() || arg.size() > 9 ||
          !std::all_of(arg.begin(), arg.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return InvalidArgument("the argument of " + p.text + "() must be an integer, found " +
                               Quoted(arg));
      }
      p.call = true;
      p.arg = std::stoll(std::string(arg));
    }
    if (!lit.empty()) out.push_back({true, std::move(lit)});
    lit.clear();
    out.push_back(std::move(p));
    i = close + 1;
  }
  if (!lit.empty() || out.empty()) out.push_back({true, std::move(lit)});
  return out;
}

struct RenderScope {
  std::string_view full;
  std::string_view prefix;
  std::string_view segment;
  const std::vector<std::string>* matches = nullptr;
};

Result<std::string> Evaluate(const std::vector<Piece>& pieces, const RenderScope& scope) {
  std::string out;
  for (const Piece& p : pieces) {
    if (p.literal) {
      out += p.text;
    } else if (p.call) {
      if (p.text != "match") return InvalidArgument("unknown function called: " + p.text);
      const auto& m = *scope.matches;
      if (p.arg >= 0 && static_cast<size_t>(p.arg) < m.size()) out += m[static_cast<size_t>(p.arg)];
    } else if (p.text == "name.full") {
      out += scope.full;
    } else if (p.text == "name.prefix") {
      out += scope.prefix;
    } else if (p.text == "name.suffix") {
      std::string_view full = scope.full;
      if (full.substr(0, scope.prefix.size()) == scope.prefix) full.remove_prefix(scope.prefix.size());
      out += full;
    } else if (p.text == "agent.segment") {
      out += scope.segment;
    } else {
      return InvalidArgument("unknown variable accessed: " + p.text);
    }
  }
  return out;
}

// Every string of the Service part with Consul's walk path (".Tags[0]", ".NodeMeta[rack]").
void WalkStrings(ServiceQuery& s, const std::function<void(const std::string&, std::string&)>& fn) {
  fn(".Service", s.service);
  for (size_t i = 0; i < s.failover.datacenters.size(); ++i) {
    fn(".Failover.Datacenters[" + std::to_string(i) + "]", s.failover.datacenters[i]);
  }
  for (size_t i = 0; i < s.failover.targets.size(); ++i) {
    fn(".Failover.Targets[" + std::to_string(i) + "].Peer", s.failover.targets[i].peer);
    fn(".Failover.Targets[" + std::to_string(i) + "].Datacenter", s.failover.targets[i].datacenter);
  }
  for (size_t i = 0; i < s.ignore_check_ids.size(); ++i) {
    fn(".IgnoreCheckIDs[" + std::to_string(i) + "]", s.ignore_check_ids[i]);
  }
  fn(".Near", s.near);
  for (size_t i = 0; i < s.tags.size(); ++i) fn(".Tags[" + std::to_string(i) + "]", s.tags[i]);
  for (auto& [k, v] : s.node_meta) fn(".NodeMeta[" + k + "]", v);
  for (auto& [k, v] : s.service_meta) fn(".ServiceMeta[" + k + "]", v);
  fn(".PeerName", s.peer);
}

bool LooksLikeUUID(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<PreparedQuery> PreparedQueryFromJson(const Json& j) {
  if (!j.is_object()) {
    return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(j) +
                        " into Go value of type structs.PreparedQuery");
  }
  if (Depth(j) > kMaxDepth) return DecodeFailed("nested too deeply");
  PreparedQuery q;
  internal::FieldReader r(j, "");
  r.String("ID", &q.id).String("Name", &q.name).String("Session", &q.session).String("Token", &q.token);
  r.Uint64("CreateIndex", &q.create_index).Uint64("ModifyIndex", &q.modify_index);
  if (!r.ok()) return DecodeFailed(r.status().message());
  if (const Json* t = r.Find("Template")) {
    internal::FieldReader tr(*t, "Template");
    tr.String("Type", &q.tmpl.type).String("Regexp", &q.tmpl.regexp)
        .Bool("RemoveEmptyTags", &q.tmpl.remove_empty_tags);
    if (!tr.ok()) return DecodeFailed(tr.status().message());
  }
  if (const Json* d = r.Find("DNS")) {
    internal::FieldReader dr(*d, "DNS");
    dr.String("TTL", &q.dns_ttl);
    if (!dr.ok()) return DecodeFailed(dr.status().message());
  }
  if (const Json* s = r.Find("Service")) {
    ServiceQuery& sq = q.service;
    internal::FieldReader sr(*s, "Service");
    sr.String("Service", &sq.service).Bool("OnlyPassing", &sq.only_passing)
        .StringList("IgnoreCheckIDs", &sq.ignore_check_ids).String("Near", &sq.near)
        .StringList("Tags", &sq.tags).StringMap("NodeMeta", &sq.node_meta)
        .StringMap("ServiceMeta", &sq.service_meta).Bool("Connect", &sq.connect)
        .String("Peer", &sq.peer);
    if (sq.peer.empty()) sr.String("PeerName", &sq.peer);
    if (!sr.ok()) return DecodeFailed(sr.status().message());
    if (const Json* f = sr.Find("Failover")) {
      internal::FieldReader fr(*f, "Service.Failover");
      fr.Int64("NearestN", &sq.failover.nearest_n).StringList("Datacenters", &sq.failover.datacenters);
      if (!fr.ok()) return DecodeFailed(fr.status().message());
      if (const Json* targets = fr.Find("Targets")) {
        if (!targets->is_array()) {
          return DecodeFailed("Service.Failover.Targets: expected a list of {Peer, Datacenter}");
        }
        for (size_t i = 0; i < targets->size(); ++i) {
          QueryTarget t;
          internal::FieldReader tr((*targets)[i],
                                   "Service.Failover.Targets[" + std::to_string(i) + "]");
          tr.String("Peer", &t.peer).String("Datacenter", &t.datacenter);
          if (!tr.ok()) return DecodeFailed(tr.status().message());
          sq.failover.targets.push_back(std::move(t));
        }
      }
    }
  }
  return q;
}

Result<PreparedQuery> DecodePreparedQuery(std::string_view body) {
  if (body.empty()) return DecodeFailed("EOF");
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DecodeFailed("the body is not valid JSON");
  return PreparedQueryFromJson(j);
}

Json PreparedQueryToJson(const PreparedQuery& q, bool hide_token) {
  Json targets = nullptr;
  if (!q.service.failover.targets.empty()) {
    targets = Json::array();
    for (const auto& t : q.service.failover.targets) {
      targets.push_back({{"Peer", t.peer}, {"Datacenter", t.datacenter}});
    }
  }
  const ServiceQuery& s = q.service;
  return {
      {"ID", q.id},
      {"Name", q.name},
      {"Session", q.session},
      {"Token", hide_token && !q.token.empty() ? std::string(kRedactedToken) : q.token},
      {"Template",
       {{"Type", q.tmpl.type}, {"Regexp", q.tmpl.regexp}, {"RemoveEmptyTags", q.tmpl.remove_empty_tags}}},
      {"Service",
       {{"Service", s.service},
        {"Failover",
         {{"NearestN", s.failover.nearest_n},
          {"Datacenters", ListOrNull(s.failover.datacenters)},
          {"Targets", std::move(targets)}}},
        {"OnlyPassing", s.only_passing},
        {"IgnoreCheckIDs", ListOrNull(s.ignore_check_ids)},
        {"Near", s.near},
        {"Tags", ListOrNull(s.tags)},
        {"NodeMeta", MapOrNull(s.node_meta)},
        {"ServiceMeta", MapOrNull(s.service_meta)},
        {"Peer", s.peer},
        {"Connect", s.connect}}},
      {"DNS", {{"TTL", q.dns_ttl}}},
      {"CreateIndex", q.create_index},
      {"ModifyIndex", q.modify_index},
  };
}

Status ValidatePreparedQuery(const PreparedQuery& q) {
  auto invalid = [](const std::string& why) {
    return InvalidArgument("Invalid prepared query: " + why);
  };
  if (q.name.empty() && q.tmpl.type.empty() && q.session.empty()) {
    return invalid("Must be bound to a session");
  }
  if (q.token == kRedactedToken) {
    return invalid(std::string("Bad Token '") + kRedactedToken +
                   "', it looks like a query definition with a redacted token was submitted");
  }
  const ServiceQuery& s = q.service;
  if (s.service.empty()) return invalid("Must provide a Service name to query");
  if (s.failover.nearest_n < 0) {
    return invalid("Bad NearestN '" + std::to_string(s.failover.nearest_n) + "', must be >= 0");
  }
  if (!s.failover.targets.empty() &&
      (s.failover.nearest_n != 0 || !s.failover.datacenters.empty())) {
    return invalid("Targets cannot be populated with NearestN or Datacenters");
  }
  for (const auto& [k, v] : s.node_meta) {
    if (k.empty()) return invalid("Key cannot be blank");
    if (k.size() > 128) return invalid("Key is too long (limit: 128 characters)");
    if (v.size() > 512) return invalid("Value is too long (limit: 512 characters)");
  }
  if (!q.dns_ttl.empty()) {
    auto ttl = ParseDuration(q.dns_ttl);
    if (!ttl.ok()) {
      return invalid("Bad DNS TTL '" + q.dns_ttl + "': time: invalid duration " +
                     Quoted(q.dns_ttl));
    }
    if (ttl->count() < 0) {
      return invalid("DNS TTL '" + std::to_string(ttl->count()) + "', must be >=0");
    }
  }
  return Status::Ok();
}

Status TemplateCheck(const PreparedQuery& q) {
  if (q.tmpl.type.empty()) return Status::Ok();
  if (q.tmpl.type != kQueryTemplateNamePrefixMatch) {
    return InvalidArgument("Bad Template.Type '" + q.tmpl.type + "'");
  }
  ServiceQuery copy = q.service;
  Status first;
  WalkStrings(copy, [&](const std::string& path, std::string& value) {
    if (!first.ok()) return;
    auto parsed = ParseInterpolated(value);
    if (!parsed.ok()) {
      first = InvalidArgument("Bad format '" + value + "' in Service" + path + ": " +
                              parsed.status().message());
    }
  });
  if (!first.ok()) return first;
  if (!q.tmpl.regexp.empty()) {
    auto re = Regexp::Compile(q.tmpl.regexp);
    if (!re.ok()) return InvalidArgument("Bad Regexp: " + re.status().message());
  }
  auto rendered = RenderTemplate(q, q.name);
  return rendered.ok() ? Status::Ok() : rendered.status();
}

Result<PreparedQuery> RenderTemplate(const PreparedQuery& q, std::string_view full_name,
                                     std::string_view agent_segment) {
  std::vector<std::string> matches;
  if (!q.tmpl.regexp.empty()) {
    auto re = Regexp::Compile(q.tmpl.regexp);
    if (!re.ok()) return InvalidArgument("Bad Regexp: " + re.status().message());
    re->FindSubmatch(full_name, &matches);
  }
  PreparedQuery out = q;
  RenderScope scope{full_name, q.name, agent_segment, &matches};
  Status first;
  WalkStrings(out.service, [&](const std::string& path, std::string& value) {
    if (!first.ok()) return;
    auto parsed = ParseInterpolated(value);
    if (!parsed.ok()) {
      first = InvalidArgument("Bad format '" + value + "' in Service" + path + ": " +
                              parsed.status().message());
      return;
    }
    auto v = Evaluate(*parsed, scope);
    if (!v.ok()) {
      first = InvalidArgument("Bad evaluation for '" + value + "' in Service" + path + ": " +
                              v.status().message());
      return;
    }
    value = std::move(*v);
  });
  if (!first.ok()) return first;
  if (q.tmpl.remove_empty_tags) {
    auto& tags = out.service.tags;
    tags.erase(std::remove(tags.begin(), tags.end(), std::string()), tags.end());
  }
  return out;
}

const PreparedQuery* ResolvePreparedQuery(const std::vector<PreparedQuery>& queries,
                                          std::string_view id_or_name) {
  if (id_or_name.empty()) return nullptr;
  if (LooksLikeUUID(id_or_name)) {
    for (const auto& q : queries) {
      if (q.id == id_or_name) return &q;
    }
  }
  for (const auto& q : queries) {
    if (!q.name.empty() && q.name == id_or_name) return &q;
  }
  const PreparedQuery* best = nullptr;
  for (const auto& q : queries) {
    if (q.tmpl.type.empty() || id_or_name.substr(0, q.name.size()) != q.name) continue;
    if (best == nullptr || q.name.size() > best->name.size()) best = &q;
  }
  return best;
}

bool TagsMatch(const std::vector<std::string>& instance_tags,
               const std::vector<std::string>& required) {
  std::set<std::string> have;
  for (const auto& t : instance_tags) have.insert(Lower(t));
  for (const auto& t : required) {
    std::string tag = Lower(t);
    if (!tag.empty() && tag[0] == '!') {
      if (have.count(tag.substr(1))) return false;
    } else if (!have.count(tag)) {
      return false;
    }
  }
  return true;
}

}  // namespace gangway::catalog
