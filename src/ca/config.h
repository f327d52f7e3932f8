// The Connect CA configuration (Consul's CAConfiguration with the built-in provider's keys):
// decoding from and encoding to the `/v1/connect/ca/configuration` JSON shape, and validation
// with Consul's error texts. Pure value types and functions; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/duration.h"
#include "core/status.h"

namespace gangway::ca {

inline constexpr std::string_view kConsulProvider = "consul";

struct CAConfig {
  std::string provider = std::string(kConsulProvider);
  std::string cluster_id;  // not part of the JSON (Consul's `json:"-"`); set by the leader

  // Config map, built-in provider ("consul").
  Duration leaf_cert_ttl = std::chrono::hours(72);
  Duration intermediate_cert_ttl = std::chrono::hours(8760);
  Duration root_cert_ttl = std::chrono::hours(87600);
  std::string private_key_type = "ec";
  int private_key_bits = 256;
  std::string private_key;  // PEM; bring your own root (with root_cert)
  std::string root_cert;    // PEM
  double csr_max_per_second = 50;  // 0 disables the rate limit
  int csr_max_concurrent = 0;      // only used when csr_max_per_second is 0
  bool disable_cross_signing = false;  // undocumented Consul test knob, kept for fidelity
  // Config keys this provider does not interpret (RotationPeriod, a Vault address...), kept
  // so GET returns what was PUT.
  nlohmann::json extra = nlohmann::json::object();

  std::map<std::string, std::string> state;  // provider state, strings only as in Consul
  bool force_without_cross_signing = false;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

// Decodes a PUT body `{"Provider", "Config": {...}, "ForceWithoutCrossSigning"}` (also
// `force_without_cross_signing`). Config keys match case-insensitively and in snake_case
// (`leaf_cert_ttl`); values are weakly typed as mapstructure does ("256" is 256, a duration
// may be a Go duration string or nanoseconds). Missing keys keep the defaults. Does not
// validate: call Validate. Errors: "error decoding config: ...".
Result<CAConfig> DecodeCAConfiguration(const nlohmann::json& body);
Result<CAConfig> ParseCAConfiguration(std::string_view body);  // JSON text

// The GET shape: {"Provider","Config":{...},"State","ForceWithoutCrossSigning","CreateIndex",
// "ModifyIndex"}. PrivateKey/RootCert appear only when set.
nlohmann::json EncodeCAConfiguration(const CAConfig& config);

// Consul's checks, first failure wins, texts verbatim:
//   must provide a private key when providing a root cert
//   root cert TTL is set and is not greater than intermediate cert ttl. root cert ttl: ...
//   leaf cert TTL must be greater or equal than 1h0m0s / must be less than 8760h0m0s
//   Intermediate Cert TTL must be greater or equal than 3h
//   Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=...).
//   EC key length must be one of (224, 256, 384, 521) bits / RSA key length must be 2048 or
//   4096 bits / private key type must be either 'ec' or 'rsa'
// plus `unknown CA provider "x"` for a provider Gangway does not have.
Status Validate(const CAConfig& config);

// Whether moving from `current` to `next` needs a new root (and so a rotation): another
// provider, another key type/size, or a different bring-your-own key or certificate.
bool RequiresNewRoot(const CAConfig& current, const CAConfig& next);

}  // namespace gangway::ca
