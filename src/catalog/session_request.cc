#include "catalog/session_request.h"

#include <cmath>
#include <exception>
#include <limits>

#include "catalog/internal/json_forms.h"
#include "core/duration.h"

namespace gangway::catalog {
namespace {

// Consul's Session.UnmarshalJSON: values below this many nanoseconds are taken as seconds.
constexpr int64_t kLockDelayMinThreshold = 1000;
constexpr int kMaxDepth = 32;

Status DecodeFailed(const std::string& why) {
  return InvalidArgument("Request decode failed: " + why);
}

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The parser recurses per level: a body nested deeper than any session needs is refused before
// it is parsed.
bool TooDeep(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// The key of `obj` matching `name` case-insensitively, preferring the exact spelling (as Go's
// encoding/json does); nullptr when absent. Null values are returned too: Go decodes null into a
// slice as an empty one.
const Json* FindKey(const Json& obj, std::string_view name) {
  const Json* folded = nullptr;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.key() == name) return &it.value();
    if (folded == nullptr && EqualFold(it.key(), name)) folded = &it.value();
  }
  return folded;
}

Status StringList(const Json& v, const char* field, std::vector<std::string>* out) {
  out->clear();
  if (v.is_null()) return Status::Ok();
  if (!v.is_array()) return DecodeFailed(std::string("json: cannot unmarshal ") +
                                         internal::TypeName(v) + " into Go struct field ." +
                                         field + " of type []string");
  for (const auto& s : v) {
    if (!s.is_string()) {
      return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(s) +
                          " into Go struct field ." + field + " of type string");
    }
    out->push_back(s.get<std::string>());
  }
  return Status::Ok();
}

Status String(const Json& v, const char* field, std::string* out) {
  if (v.is_null()) return Status::Ok();
  if (!v.is_string()) {
    return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(v) +
                        " into Go struct field ." + field + " of type string");
  }
  *out = v.get<std::string>();
  return Status::Ok();
}

int64_t SaturatingSeconds(int64_t n) {
  int64_t out = 0;
  if (__builtin_mul_overflow(n, int64_t{1'000'000'000}, &out)) {
    return n < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return out;
}

Status LockDelay(const Json& v, int64_t* out) {
  int64_t ns = 0;
  if (v.is_null()) return Status::Ok();
  if (v.is_string()) {
    auto d = ParseDuration(v.get<std::string>());
    if (!d.ok()) return DecodeFailed("time: invalid duration " + internal::Quote(v.get<std::string>()));
    ns = d->count();
  } else if (v.is_number_integer()) {
    ns = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : v.get<int64_t>();
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    // Go's time.Duration(float64): truncation; out-of-range values saturate here.
    if (std::isnan(d)) {
      ns = 0;
    } else if (d >= 9.2e18) {
      ns = std::numeric_limits<int64_t>::max();
    } else if (d <= -9.2e18) {
      ns = std::numeric_limits<int64_t>::min();
    } else {
      ns = static_cast<int64_t>(d);
    }
  }
  // Other types leave the duration at 0, as Consul's type switch does.
  if (ns < kLockDelayMinThreshold) ns = SaturatingSeconds(ns);
  *out = ns;
  return Status::Ok();
}

}  // namespace

Result<Session> DecodeSessionCreate(std::string_view body, const std::string& agent_node) {
  Session s;
  s.node = agent_node;
  s.node_checks = {kSerfCheckID};
  s.checks = {kSerfCheckID};
  if (!body.empty()) {
    if (TooDeep(body)) return DecodeFailed("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    Json j;
    try {
      j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/true,
                      /*ignore_comments=*/false);
    } catch (const std::exception& e) {
      std::string what = e.what();
      auto pos = what.find("] ");
      if (pos != std::string::npos) what = what.substr(pos + 2);
      // The parser quotes the bytes it choked on, which may not be UTF-8: messages must be.
      std::string clean;
      for (char c : what) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x80) {
          clean += c;
        } else {
          static const char kHex[] = "0123456789abcdef";
          clean += "\\x";
          clean += kHex[u >> 4];
          clean += kHex[u & 15];
        }
      }
      return DecodeFailed(clean);
    }
    if (j.is_null()) return s;
    if (!j.is_object()) {
      return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(j) +
                          " into Go value of type structs.Session");
    }
    if (const Json* v = FindKey(j, "Name")) {
      if (Status st = String(*v, "Name", &s.name); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "Node")) {
      if (Status st = String(*v, "Node", &s.node); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "Behavior")) {
      if (Status st = String(*v, "Behavior", &s.behavior); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "TTL")) {
      if (Status st = String(*v, "TTL", &s.ttl); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "LockDelay")) {
      if (Status st = LockDelay(*v, &s.lock_delay_ns); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "Checks")) {
      if (Status st = StringList(*v, "Checks", &s.checks); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "NodeChecks")) {
      if (Status st = StringList(*v, "NodeChecks", &s.node_checks); !st.ok()) return st;
    }
    if (const Json* v = FindKey(j, "ServiceChecks")) {
      s.service_checks.clear();
      if (!v->is_null()) {
        if (!v->is_array()) {
          return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(*v) +
                              " into Go struct field .ServiceChecks of type []structs.ServiceCheck");
        }
        for (const auto& c : *v) {
          if (c.is_null()) {
            s.service_checks.emplace_back();
            continue;
          }
          if (!c.is_object()) {
            return DecodeFailed(std::string("json: cannot unmarshal ") + internal::TypeName(c) +
                                " into Go struct field .ServiceChecks of type structs.ServiceCheck");
          }
          ServiceCheckRef ref;
          if (const Json* id = FindKey(c, "ID")) {
            if (Status st = String(*id, "ServiceChecks.ID", &ref.id); !st.ok()) return st;
          }
          if (const Json* ns = FindKey(c, "Namespace")) {
            if (Status st = String(*ns, "ServiceChecks.Namespace", &ref.ns); !st.ok()) return st;
          }
          s.service_checks.push_back(std::move(ref));
        }
      }
    }
  }
  // Consul's backward-compatibility fix-ups of the check lists; the first matching rule only.
  if (s.checks.empty()) {
    s.node_checks.clear();
  } else if (s.checks.size() == 1 && s.checks[0] == kSerfCheckID) {
    s.checks.clear();
  } else if (s.node_checks.empty()) {
    s.checks.clear();
  }
  return s;
}

Status ValidateSession(Session* s, std::chrono::nanoseconds ttl_min) {
  if (s->node.empty()) return InvalidArgument("Must provide Node");
  if (s->behavior.empty()) s->behavior = kSessionBehaviorRelease;
  if (s->behavior != kSessionBehaviorRelease && s->behavior != kSessionBehaviorDelete) {
    return InvalidArgument("Invalid Behavior setting '" + s->behavior + "'");
  }
  if (!s->ttl.empty()) {
    auto ttl = ParseDuration(s->ttl);
    if (!ttl.ok()) {
      return InvalidArgument("Session TTL '" + s->ttl + "' invalid: time: invalid duration " +
                             internal::Quote(s->ttl));
    }
    if (ttl->count() != 0 && (*ttl < ttl_min || *ttl > kSessionTTLMax)) {
      return InvalidArgument("Invalid Session TTL '" + std::to_string(ttl->count()) +
                             "', must be between [" + FormatDuration(ttl_min) + "=" +
                             FormatDuration(kSessionTTLMax) + "]");
    }
  }
  return Status::Ok();
}

std::chrono::nanoseconds SessionTTL(const Session& s) {
  if (s.ttl.empty()) return std::chrono::nanoseconds(0);
  auto ttl = ParseDuration(s.ttl);
  return ttl.ok() ? *ttl : std::chrono::nanoseconds(0);
}

}  // namespace gangway::catalog
