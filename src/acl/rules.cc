#include "acl/rules.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

#include "codec/document.h"
#include "core/strings.h"

namespace gangway::acl {

const char* ResourceName(Resource r) {
  switch (r) {
    case Resource::kAcl:
      return "acl";
    case Resource::kAgent:
      return "agent";
    case Resource::kEvent:
      return "event";
    case Resource::kIntention:
      return "intention";
    case Resource::kKey:
      return "key";
    case Resource::kKeyring:
      return "keyring";
    case Resource::kMesh:
      return "mesh";
    case Resource::kNode:
      return "node";
    case Resource::kOperator:
      return "operator";
    case Resource::kPeering:
      return "peering";
    case Resource::kQuery:
      return "query";
    case Resource::kService:
      return "service";
    case Resource::kSession:
      return "session";
  }
  return "unknown";
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kRead:
      return "read";
    case Level::kList:
      return "list";
    case Level::kWrite:
      return "write";
  }
  return "unknown";
}

const char* AccessName(Access a) {
  switch (a) {
    case Access::kDefault:
      return "";
    case Access::kRead:
      return "read";
    case Access::kList:
      return "list";
    case Access::kWrite:
      return "write";
    case Access::kDeny:
      return "deny";
  }
  return "";
}

bool IsNamed(Resource r) {
  switch (r) {
    case Resource::kAcl:
    case Resource::kKeyring:
    case Resource::kMesh:
    case Resource::kOperator:
    case Resource::kPeering:
      return false;
    default:
      return true;
  }
}

namespace {

using Json = nlohmann::json;

// One spelling of a rule kind in the language.
struct Kind {
  const char* name;
  Resource resource;
  bool prefix;
};

constexpr Kind kKinds[] = {
    {"acl", Resource::kAcl, false},
    {"agent", Resource::kAgent, false},
    {"agent_prefix", Resource::kAgent, true},
    {"event", Resource::kEvent, false},
    {"event_prefix", Resource::kEvent, true},
    {"key", Resource::kKey, false},
    {"key_prefix", Resource::kKey, true},
    {"keyring", Resource::kKeyring, false},
    {"mesh", Resource::kMesh, false},
    {"node", Resource::kNode, false},
    {"node_prefix", Resource::kNode, true},
    {"operator", Resource::kOperator, false},
    {"peering", Resource::kPeering, false},
    {"query", Resource::kQuery, false},
    {"query_prefix", Resource::kQuery, true},
    {"service", Resource::kService, false},
    {"service_prefix", Resource::kService, true},
    {"session", Resource::kSession, false},
    {"session_prefix", Resource::kSession, true},
};

// Consul Enterprise's kinds: refused with their own message, as a policy written for Enterprise
// would otherwise be read without the rules the author relied on.
constexpr const char* kEnterpriseKinds[] = {"namespace", "namespace_prefix", "partition",
                                            "partition_prefix", "sentinel"};

// Consul's HCL decoder matches names without regard to case (`Key_Prefix`, `Policy`).
bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

const Kind* FindKind(std::string_view name) {
  for (const Kind& k : kKinds) {
    if (EqualFold(name, k.name)) return &k;
  }
  return nullptr;
}

const char* KindName(Resource r, bool prefix) {
  for (const Kind& k : kKinds) {
    if (k.resource == r && k.prefix == (prefix && IsNamed(r))) return k.name;
  }
  return nullptr;
}

std::string NearestKind(std::string_view word) {
  std::string lower = ToLower(word);
  const char* best = kKinds[0].name;
  size_t best_d = SIZE_MAX;
  for (const Kind& k : kKinds) {
    size_t d = EditDistance(lower, k.name);
    if (d < best_d) {
      best_d = d;
      best = k.name;
    }
  }
  return best;
}

// A value for a message: printable ASCII only (control bytes and non-ASCII as \xNN), cut short,
// so that hostile input cannot forge log lines or flood them.
std::string Shown(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

std::string ShownValue(const Json& v) {
  if (v.is_string()) return Shown(v.get_ref<const std::string&>());
  if (v.is_object()) return "a block";
  if (v.is_array()) return "a list";
  if (v.is_null()) return "null";
  // Numbers and booleans, unquoted so they read as what was written.
  std::string shown = Shown(v.dump());
  return shown.substr(1, shown.size() - 2);
}

std::string PointerToken(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Access values a kind accepts, for the "expected" part of messages.
const char* Expected(bool list_allowed) {
  return list_allowed ? "\"read\", \"list\", \"write\" or \"deny\""
                      : "\"read\", \"write\" or \"deny\"";
}

bool ParseAccess(std::string_view s, bool list_allowed, Access* out) {
  if (s == "read") {
    *out = Access::kRead;
  } else if (s == "write") {
    *out = Access::kWrite;
  } else if (s == "deny") {
    *out = Access::kDeny;
  } else if (s == "list" && list_allowed) {
    *out = Access::kList;
  } else {
    return false;
  }
  return true;
}

class RulesParser {
 public:
  RulesParser(std::string_view text, const codec::Document& doc, bool hcl)
      : text_(text), doc_(doc), hcl_(hcl) {}

  Result<Rules> Parse() {
    const Json& root = doc_.value;
    if (!root.is_object()) {
      return InvalidArgument(Where("", {}) + "ACL rules must be an object of rules, found " +
                             ShownValue(root));
    }
    for (const auto& [kind_name, value] : root.items()) {
      const std::string ptr = "/" + PointerToken(kind_name);
      const Kind* kind = FindKind(kind_name);
      if (kind == nullptr) {
        for (const char* ent : kEnterpriseKinds) {
          if (EqualFold(kind_name, ent)) {
            return InvalidArgument(Where(ptr, {kind_name}) + Shown(kind_name) +
                                   " rules are Consul Enterprise only; this server does not "
                                   "support them");
          }
        }
        return InvalidArgument(Where(ptr, {kind_name}) + "unknown rule kind " + Shown(kind_name) +
                               " (the nearest known kind is \"" + NearestKind(kind_name) + "\")");
      }
      Status s =
          IsNamed(kind->resource) ? ParseNamed(*kind, value, ptr) : ParseBare(*kind, value, ptr);
      if (!s.ok()) return s;
    }
    // The document's objects are keyed maps; the source lines give back the written order.
    std::stable_sort(found_.begin(), found_.end(),
                     [](const Found& a, const Found& b) { return a.line < b.line; });
    // A bare rule given twice, which the codec keeps only when the spellings differ in case
    // (`operator`, `Operator`): the last one written wins, as for any repeated attribute.
    std::vector<bool> keep(found_.size(), true);
    bool seen[static_cast<size_t>(Resource::kSession) + 1] = {};
    for (size_t i = found_.size(); i-- > 0;) {
      const Rule& r = found_[i].rule;
      if (IsNamed(r.resource)) continue;
      bool& s = seen[static_cast<size_t>(r.resource)];
      keep[i] = !s;
      s = true;
    }
    Rules rules;
    rules.rules.reserve(found_.size());
    for (size_t i = 0; i < found_.size(); ++i) {
      if (keep[i]) rules.rules.push_back(std::move(found_[i].rule));
    }
    return rules;
  }

 private:
  struct Found {
    int line;
    Rule rule;
  };

  // "line L, column C: " for the value at `ptr`, the column found by looking for `needles` in
  // turn on that line (the document keeps lines only). "" when the line is unknown.
  std::string Where(const std::string& ptr, std::initializer_list<std::string_view> needles) const {
    int line = doc_.LineOf(ptr);
    if (line <= 0) return "";
    std::string where = "line " + std::to_string(line);
    size_t start = 0;
    for (int l = 1; l < line && start != std::string_view::npos; ++l) {
      start = text_.find('\n', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start == std::string_view::npos) return where + ": ";
    size_t end = text_.find('\n', start);
    std::string_view line_text =
        text_.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    size_t at = 0;
    size_t col = std::string_view::npos;
    for (std::string_view needle : needles) {
      size_t q = line_text.find("\"" + std::string(needle) + "\"", at);
      size_t bare = line_text.find(needle, at);
      size_t hit = std::min(q, bare);
      if (needle.empty() || hit == std::string_view::npos) break;
      col = hit;
      at = hit + 1;
    }
    if (col == std::string_view::npos) return where + ": ";
    // Columns count characters, as the codec's do.
    size_t chars = 0;
    for (size_t i = 0; i < col; ++i) {
      if ((static_cast<unsigned char>(line_text[i]) & 0xC0) != 0x80) ++chars;
    }
    return where + ", column " + std::to_string(chars + 1) + ": ";
  }

  Status ParseBare(const Kind& kind, const Json& value, const std::string& ptr) {
    if (value.is_object() || value.is_array()) {
      return InvalidArgument(Where(ptr, {kind.name}) + kind.name +
                             " is a single rule, not a block: write " + kind.name +
                             " = \"read\" (or \"write\", \"deny\")");
    }
    if (!value.is_string()) {
      return InvalidArgument(Where(ptr, {kind.name}) + "Invalid " + kind.name +
                             " policy: " + ShownValue(value) + ": expected " + Expected(false));
    }
    const std::string& v = value.get_ref<const std::string&>();
    // Consul leaves an empty value unset.
    if (v.empty()) return Status::Ok();
    Rule rule;
    rule.resource = kind.resource;
    if (!ParseAccess(v, false, &rule.access)) {
      return InvalidArgument(Where(ptr, {kind.name, v}) + "Invalid " + kind.name +
                             " policy: " + Shown(v) + ": expected " + Expected(false));
    }
    found_.push_back({doc_.LineOf(ptr), std::move(rule)});
    return Status::Ok();
  }

  Status NeedsLabel(const Kind& kind, const std::string& ptr, std::string_view needle = {}) const {
    return InvalidArgument(Where(ptr, {needle.empty() ? std::string_view(kind.name) : needle}) +
                           kind.name + " rules need a name: write " + kind.name +
                           " \"<name>\" { policy = \"read\" }" +
                           (kind.prefix ? " (\"\" for all)" : ""));
  }

  // `value` is what the kind maps to: {label: body}, {label: [body...]} for a repeated label, or
  // a list of such objects (the JSON form Consul's decoder also reads).
  Status ParseNamed(const Kind& kind, const Json& value, const std::string& ptr) {
    if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string eptr = ptr + "/" + std::to_string(i);
        if (!value[i].is_object()) return NeedsLabel(kind, eptr);
        Status s = ParseLabels(kind, value[i], eptr);
        if (!s.ok()) return s;
      }
      return Status::Ok();
    }
    if (!value.is_object()) return NeedsLabel(kind, ptr);
    // `key_prefix { }` in HCL: a block without its label. In JSON an empty object is only an
    // empty set of rules.
    if (value.empty() && hcl_) return NeedsLabel(kind, ptr);
    return ParseLabels(kind, value, ptr);
  }

  Status ParseLabels(const Kind& kind, const Json& labels, const std::string& ptr) {
    for (const auto& [label, body] : labels.items()) {
      const std::string lptr = ptr + "/" + PointerToken(label);
      if (body.is_object()) {
        Status s = ParseBody(kind, label, body, lptr);
        if (!s.ok()) return s;
      } else if (body.is_array()) {
        for (size_t i = 0; i < body.size(); ++i) {
          const std::string bptr = lptr + "/" + std::to_string(i);
          if (!body[i].is_object()) return NeedsLabel(kind, bptr);
          Status s = ParseBody(kind, label, body[i], bptr);
          if (!s.ok()) return s;
        }
      } else {
        // `key_prefix { policy = "write" }`: the attribute was read as the label.
        return NeedsLabel(kind, lptr, label);
      }
    }
    return Status::Ok();
  }

  Status ParseBody(const Kind& kind, const std::string& name, const Json& body,
                   const std::string& ptr) {
    const bool service = kind.resource == Resource::kService;
    const bool list_allowed = kind.resource == Resource::kKey;
    const std::string title = std::string(kind.name) + " " + Shown(name);
    Rule rule;
    rule.resource = kind.resource;
    rule.name = name;
    rule.prefix = kind.prefix;
    bool has_policy = false;
    for (const auto& [key, v] : body.items()) {
      const std::string kptr = ptr + "/" + PointerToken(key);
      const bool intentions = service && EqualFold(key, "intentions");
      if (intentions || EqualFold(key, "policy")) {
        const std::string what =
            std::string("Invalid ") + kind.name + (intentions ? " intentions" : "") + " policy: ";
        const bool allow_list = list_allowed && !intentions;
        if (!v.is_string()) {
          return InvalidArgument(Where(kptr, {key}) + what + ShownValue(v) + " in " + title +
                                 ": expected " + Expected(allow_list));
        }
        const std::string& s = v.get_ref<const std::string&>();
        // An empty intentions value is Consul's "not given": derived from the policy.
        if (intentions && s.empty()) continue;
        Access* target = intentions ? &rule.intentions : &rule.access;
        if (!ParseAccess(s, allow_list, target)) {
          return InvalidArgument(Where(kptr, {key, s}) + what + Shown(s) + " in " + title +
                                 ": expected " + Expected(allow_list));
        }
        if (!intentions) has_policy = true;
        continue;
      }
      if (v.is_object()) {
        return InvalidArgument(Where(kptr, {key}) + title + " has a second label " + Shown(key) +
                               ": a rule has one name, as in " + kind.name +
                               " \"<name>\" { policy = \"read\" }");
      }
      return InvalidArgument(
          Where(kptr, {key}) + "unknown key " + Shown(key) + " in " + title +
          (service ? ": expected \"policy\" or \"intentions\"" : ": expected \"policy\""));
    }
    if (!has_policy) {
      return InvalidArgument(Where(ptr, {kind.name}) + "Invalid " + kind.name + " policy: " +
                             title + " has no policy: expected policy = " + Expected(list_allowed));
    }
    found_.push_back({doc_.LineOf(ptr), std::move(rule)});
    return Status::Ok();
  }

  std::string_view text_;
  const codec::Document& doc_;
  bool hcl_;
  std::vector<Found> found_;
};

// A string as the codec's HCL reader reads it back: quotes, backslashes and control characters
// escaped; everything else (UTF-8 included) as is.
void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

Result<Rules> ParseRules(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  const bool json = first != std::string_view::npos && text[first] == '{';
  auto doc = json ? codec::ParseJson(text) : codec::ParseHcl(text);
  if (!doc.ok()) {
    return InvalidArgument("Failed to parse ACL rules: " + doc.status().message());
  }
  return RulesParser(text, *doc, !json).Parse();
}

std::string FormatRules(const Rules& rules) {
  std::string out;
  for (const Rule& rule : rules.rules) {
    if (rule.access == Access::kDefault || rule.resource == Resource::kIntention) continue;
    const char* kind = KindName(rule.resource, rule.prefix);
    if (kind == nullptr) continue;
    out += kind;
    if (!IsNamed(rule.resource)) {
      out += " = \"";
      out += AccessName(rule.access);
      out += "\"\n";
      continue;
    }
    out += ' ';
    AppendQuoted(rule.name, &out);
    out += " {\n  policy = \"";
    out += AccessName(rule.access);
    out += "\"\n";
    if (rule.resource == Resource::kService && rule.intentions != Access::kDefault) {
      out += "  intentions = \"";
      out += AccessName(rule.intentions);
      out += "\"\n";
    }
    out += "}\n";
  }
  return out;
}

}  // namespace gangway::acl
