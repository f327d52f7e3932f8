// The Connect CA of one datacenter as the replicated state keeps it (catalog ConnectCARequest
// documents, docs/connect-ca.md "Storage"): the configuration, the roots list as served, and the
// material that signs here. Conversions both ways and the signer built from the state. Pure.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "ca/ca.h"
#include "ca/config.h"
#include "core/status.h"

namespace gangway::ca {

struct CAState {
  IndexedCARoots roots;          // as /v1/connect/ca/roots serves it (index: the roots' index)
  std::string signing_cert_pem;  // signs leaves here: the active root, or our intermediate
  std::string signing_key_pem;   // its key; the primary's is also the active root's key
  bool secondary = false;        // signing_cert_pem is an intermediate from the primary
  uint64_t next_serial = 1;      // serial of the next root or certificate this CA makes
  std::string primary_datacenter;  // secondary: whose roots these are

  // The signer for leaves (prepared), from signing_cert_pem/key and the active root's chain.
  Result<SigningCA> Signer() const;
};

// Storage form of the roots document: the API form plus the private fields.
nlohmann::json StateToStorage(const CAState& state);
// `index`: the roots' index in the store. Errors name the field; never throws.
Result<CAState> StateFromStorage(const nlohmann::json& doc, uint64_t index);

// The API form (/v1/connect/ca/roots, as a secondary reads the primary's) back to roots.
Result<IndexedCARoots> RootsFromJson(const nlohmann::json& doc, uint64_t index);

// A new cluster ID (a random UUID, as Consul's uuid.GenerateUUID).
std::string NewClusterId();

// Storage form of the configuration: the GET form plus the cluster ID.
nlohmann::json ConfigToStorage(const CAConfig& config);
Result<CAConfig> ConfigFromStorage(const nlohmann::json& doc);

// RFC 3339 "2024-05-01T12:00:00Z" (FormatTime's output) back to a time.
Result<Time> ParseTime(std::string_view text);

}  // namespace gangway::ca
