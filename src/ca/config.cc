#include "ca/config.h"

#include <cmath>
#include <string>

#include "core/strings.h"

namespace gangway::ca {
namespace {

using nlohmann::json;

// Case- and underscore-insensitive key, as mapstructure plus Consul's snake_case aliases match.
std::string Norm(std::string_view key) {
  std::string out;
  for (char c : ToLower(key)) {
    if (c != '_' && c != '-') out += c;
  }
  return out;
}

Status DecodeError(const std::string& key, const std::string& why) {
  return InvalidArgument("error decoding config: 1 error(s) decoding:\n\n* '" + key + "' " + why);
}

std::string GoType(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "map[string]interface {}";
    case json::value_t::array: return "[]interface {}";
    case json::value_t::boolean: return "bool";
    case json::value_t::string: return "string";
    case json::value_t::null: return "<nil>";
    default: return "float64";
  }
}

Status Unconvertible(const std::string& key, const char* want, const json& v) {
  return DecodeError(key, std::string("expected type '") + want + "', got unconvertible type '" +
                              GoType(v) + "'");
}

Result<Duration> DecodeDuration(const std::string& key, const json& v) {
  if (v.is_string()) {
    auto d = ParseDuration(v.get<std::string>());
    if (!d.ok()) return InvalidArgument("error decoding config: " + d.status().message());
    return *d;
  }
  if (v.is_number()) return Duration(static_cast<int64_t>(v.get<double>()));
  return Unconvertible(key, "time.Duration", v);
}

Result<std::string> DecodeString(const std::string& key, const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "1" : "0");
  if (v.is_number_integer()) return v.dump();
  if (v.is_number()) return v.dump();
  return Unconvertible(key, "string", v);
}

Result<double> DecodeNumber(const std::string& key, const json& v, const char* want) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.empty()) return 0.0;
    size_t used = 0;
    double d = 0;
    try {
      d = std::stod(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used != s.size()) {
      return DecodeError(key, std::string("cannot parse '") + key + "' as " + want);
    }
    return d;
  }
  return Unconvertible(key, want, v);
}

Result<bool> DecodeBool(const std::string& key, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) {
    const std::string s = ToLower(v.get<std::string>());
    if (s == "1" || s == "t" || s == "true") return true;
    if (s == "0" || s == "f" || s == "false" || s.empty()) return false;
    return DecodeError(key, "cannot parse '" + key + "' as bool");
  }
  return Unconvertible(key, "bool", v);
}

// "72h" rather than Go's "72h0m0s" when the duration is whole hours, as operators write it.
std::string ShortDuration(Duration d) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(d);
  if (h == d && h.count() > 0) return std::to_string(h.count()) + "h";
  return FormatDuration(d);
}

}  // namespace

Result<CAConfig> ParseCAConfiguration(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("Request decode failed: invalid JSON");
  return DecodeCAConfiguration(j);
}

Result<CAConfig> DecodeCAConfiguration(const json& body) {
  if (!body.is_object()) return InvalidArgument("Request decode failed: expected a JSON object");
  CAConfig c;
  for (const auto& [key, v] : body.items()) {
    const std::string k = Norm(key);
    if (k == "provider") {
      if (!v.is_string()) return InvalidArgument("Request decode failed: Provider must be a string");
      c.provider = v.get<std::string>();
    } else if (k == "forcewithoutcrosssigning") {
      if (!v.is_boolean()) {
        return InvalidArgument("Request decode failed: ForceWithoutCrossSigning must be a bool");
      }
      c.force_without_cross_signing = c.force_without_cross_signing || v.get<bool>();
    } else if (k == "state") {
      if (v.is_null()) continue;
      if (!v.is_object()) return InvalidArgument("Request decode failed: State must be an object");
      for (const auto& [sk, sv] : v.items()) {
        if (sv.is_string()) c.state[sk] = sv.get<std::string>();
      }
    } else if (k == "createindex" && v.is_number_unsigned()) {
      c.create_index = v.get<uint64_t>();
    } else if (k == "modifyindex" && v.is_number_unsigned()) {
      c.modify_index = v.get<uint64_t>();
    }
  }
  auto cfg = body.find("Config");
  if (cfg == body.end()) cfg = body.find("config");
  if (cfg == body.end() || cfg->is_null()) return c;
  if (!cfg->is_object()) return InvalidArgument("error decoding config: Config must be an object");

  for (const auto& [key, v] : cfg->items()) {
    const std::string k = Norm(key);
    if (k == "leafcertttl" || k == "intermediatecertttl" || k == "rootcertttl") {
      auto d = DecodeDuration(key, v);
      if (!d.ok()) return d.status();
      (k == "leafcertttl" ? c.leaf_cert_ttl
                          : k == "rootcertttl" ? c.root_cert_ttl : c.intermediate_cert_ttl) = *d;
    } else if (k == "privatekeytype" || k == "privatekey" || k == "rootcert") {
      auto s = DecodeString(key, v);
      if (!s.ok()) return s.status();
      (k == "privatekeytype" ? c.private_key_type
                             : k == "privatekey" ? c.private_key : c.root_cert) = *s;
    } else if (k == "privatekeybits" || k == "csrmaxconcurrent") {
      auto n = DecodeNumber(key, v, "int");
      if (!n.ok()) return n.status();
      (k == "privatekeybits" ? c.private_key_bits : c.csr_max_concurrent) =
          static_cast<int>(std::trunc(*n));
    } else if (k == "csrmaxpersecond") {
      auto n = DecodeNumber(key, v, "float32");
      if (!n.ok()) return n.status();
      c.csr_max_per_second = *n;
    } else if (k == "disablecrosssigning") {
      auto b = DecodeBool(key, v);
      if (!b.ok()) return b.status();
      c.disable_cross_signing = *b;
    } else {
      c.extra[key] = v;
    }
  }
  return c;
}

json EncodeCAConfiguration(const CAConfig& c) {
  json cfg = c.extra.is_object() ? c.extra : json::object();
  cfg["LeafCertTTL"] = ShortDuration(c.leaf_cert_ttl);
  cfg["IntermediateCertTTL"] = ShortDuration(c.intermediate_cert_ttl);
  cfg["RootCertTTL"] = ShortDuration(c.root_cert_ttl);
  cfg["PrivateKeyType"] = c.private_key_type;
  cfg["PrivateKeyBits"] = c.private_key_bits;
  // Go prints a whole float32 without a fraction ("50"), so keep integers integral.
  if (c.csr_max_per_second == std::trunc(c.csr_max_per_second)) {
    cfg["CSRMaxPerSecond"] = static_cast<int64_t>(c.csr_max_per_second);
  } else {
    cfg["CSRMaxPerSecond"] = c.csr_max_per_second;
  }
  cfg["CSRMaxConcurrent"] = c.csr_max_concurrent;
  if (!c.private_key.empty()) cfg["PrivateKey"] = c.private_key;
  if (!c.root_cert.empty()) cfg["RootCert"] = c.root_cert;
  if (c.disable_cross_signing) cfg["DisableCrossSigning"] = true;
  json state = json(nullptr);
  if (!c.state.empty()) state = c.state;
  return json{{"Provider", c.provider},
              {"Config", cfg},
              {"State", state},
              {"ForceWithoutCrossSigning", c.force_without_cross_signing},
              {"CreateIndex", c.create_index},
              {"ModifyIndex", c.modify_index}};
}

Status Validate(const CAConfig& c) {
  if (c.provider != kConsulProvider) {
    return InvalidArgument("unknown CA provider \"" + c.provider + "\"");
  }
  if (c.private_key.empty() && !c.root_cert.empty()) {
    return InvalidArgument("must provide a private key when providing a root cert");
  }
  if (c.root_cert_ttl < c.intermediate_cert_ttl) {
    return InvalidArgument(
        "root cert TTL is set and is not greater than intermediate cert ttl. root cert ttl: " +
        FormatDuration(c.root_cert_ttl) +
        ", intermediate cert ttl: " + FormatDuration(c.intermediate_cert_ttl));
  }
  const Duration min_leaf = std::chrono::hours(1);
  const Duration max_leaf = std::chrono::hours(365 * 24);
  if (c.leaf_cert_ttl < min_leaf) {
    return InvalidArgument("leaf cert TTL must be greater or equal than " +
                           FormatDuration(min_leaf));
  }
  if (c.leaf_cert_ttl > max_leaf) {
    return InvalidArgument("leaf cert TTL must be less than " + FormatDuration(max_leaf));
  }
  if (c.intermediate_cert_ttl < std::chrono::hours(3)) {
    return InvalidArgument("Intermediate Cert TTL must be greater or equal than 3h");
  }
  if (c.intermediate_cert_ttl < 3 * c.leaf_cert_ttl) {
    return InvalidArgument("Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=" +
                           FormatDuration(3 * c.leaf_cert_ttl) + ").");
  }
  if (c.private_key_type == "ec") {
    const int b = c.private_key_bits;
    if (b != 224 && b != 256 && b != 384 && b != 521) {
      return InvalidArgument("EC key length must be one of (224, 256, 384, 521) bits");
    }
  } else if (c.private_key_type == "rsa") {
    if (c.private_key_bits != 2048 && c.private_key_bits != 4096) {
      return InvalidArgument("RSA key length must be 2048 or 4096 bits");
    }
  } else {
    return InvalidArgument("private key type must be either 'ec' or 'rsa'");
  }
  return Status::Ok();
}

bool RequiresNewRoot(const CAConfig& current, const CAConfig& next) {
  if (current.provider != next.provider) return true;
  if (!next.private_key.empty() || !next.root_cert.empty()) {
    return next.private_key != current.private_key || next.root_cert != current.root_cert;
  }
  if (!current.private_key.empty()) return true;  // leaving a bring-your-own root
  return current.private_key_type != next.private_key_type ||
         current.private_key_bits != next.private_key_bits;
}

}  // namespace gangway::ca
