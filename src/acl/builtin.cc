#include "acl/builtin.h"

#include <cstdint>

namespace gangway::acl {

// Consul's texts byte for byte (tabs, the leading newline): the policy's Rules and its Hash are
// served as they are, and Consul refuses a change to these rules by comparing the text.
const std::string& GlobalManagementRules() {
  static const std::string kRules = R"(
acl = "write"
agent_prefix "" {
	policy = "write"
}
event_prefix "" {
	policy = "write"
}
key_prefix "" {
	policy = "write"
}
keyring = "write"
node_prefix "" {
	policy = "write"
}
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" {
	policy = "write"
}
service_prefix "" {
	policy = "write"
	intentions = "write"
}
session_prefix "" {
	policy = "write"
})";
  return kRules;
}

const std::string& GlobalReadOnlyRules() {
  static const std::string kRules = R"(
acl = "read"
agent_prefix "" {
	policy = "read"
}
event_prefix "" {
	policy = "read"
}
key_prefix "" {
	policy = "read"
}
keyring = "read"
node_prefix "" {
	policy = "read"
}
operator = "read"
mesh = "read"
peering = "read"
query_prefix "" {
	policy = "read"
}
service_prefix "" {
	policy = "read"
	intentions = "read"
}
session_prefix "" {
	policy = "read"
})";
  return kRules;
}

namespace {

Rule Named(Resource r, std::string name, bool prefix, Access access) {
  Rule rule;
  rule.resource = r;
  rule.name = std::move(name);
  rule.prefix = prefix;
  rule.access = access;
  return rule;
}

// Decodes the UTF-8 sequence at s[i]; its length, or 0 when malformed (overlong, surrogate,
// beyond U+10FFFF, truncated).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// Go's %q, which Consul's message uses for the name: escapes for quotes, backslashes, control
// bytes and invalid UTF-8; valid UTF-8 as is.
void AppendGoQuoted(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n == 0) {
        *out += "\\x";
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
        ++i;
      } else {
        out->append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        *out += "\\\"";
        continue;
      case '\\':
        *out += "\\\\";
        continue;
      case '\a':
        *out += "\\a";
        continue;
      case '\b':
        *out += "\\b";
        continue;
      case '\f':
        *out += "\\f";
        continue;
      case '\n':
        *out += "\\n";
        continue;
      case '\r':
        *out += "\\r";
        continue;
      case '\t':
        *out += "\\t";
        continue;
      case '\v':
        *out += "\\v";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      *out += "\\x";
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

Rules ServiceIdentityRules(std::string_view service) {
  Rules rules;
  rules.rules.push_back(Named(Resource::kService, std::string(service), false, Access::kWrite));
  rules.rules.push_back(
      Named(Resource::kService, std::string(service) + "-sidecar-proxy", false, Access::kWrite));
  rules.rules.push_back(Named(Resource::kService, "", true, Access::kRead));
  rules.rules.push_back(Named(Resource::kNode, "", true, Access::kRead));
  return rules;
}

Rules NodeIdentityRules(std::string_view node) {
  Rules rules;
  rules.rules.push_back(Named(Resource::kNode, std::string(node), false, Access::kWrite));
  rules.rules.push_back(Named(Resource::kService, "", true, Access::kRead));
  return rules;
}

std::string PermissionDeniedText(std::string_view accessor, Resource r, Level level,
                                 std::string_view name) {
  std::string out = "Permission denied: ";
  const bool anonymous = accessor == kAnonymousAccessorID;
  if (accessor.empty()) {
    out += "provided token";
  } else if (anonymous) {
    out += "anonymous token";
  } else {
    out += "token with AccessorID '";
    out += accessor;
    out += "'";
  }
  out += " lacks permission '";
  out += ResourceName(r);
  out += ':';
  out += LevelName(level);
  out += "'";
  // Consul leaves the name out when there is none, as for a key:read on the root "".
  if (IsNamed(r) && !name.empty()) {
    out += " on ";
    AppendGoQuoted(name, &out);
  }
  if (anonymous) {
    out += ". The anonymous token is used implicitly when a request does not specify a token.";
  }
  return out;
}

bool ValidPolicyName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (name.substr(0, 8) == "builtin/") return false;
  // ^[A-Za-z0-9\-_]+/?[A-Za-z0-9\-_]*$: name characters around at most one '/', not first.
  size_t slash = name.find('/');
  if (slash == 0) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (i == slash) continue;
    if (!NameChar(name[i])) return false;
  }
  return true;
}

bool ValidRoleName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name) {
    if (!NameChar(c)) return false;
  }
  return true;
}

bool ValidServiceIdentityName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  // ^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool SecretsEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Every byte is looked at whatever the earlier ones were, so the time says nothing of where
  // the first difference is. volatile keeps the compiler from turning this into an early exit.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace gangway::acl
