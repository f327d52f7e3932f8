// The built-in Connect CA ("consul" provider) as pure functions over x509: the primary's root,
// secondaries' intermediates, leaf signing from CSRs with Consul's trust checks, and root
// rotation with cross-signing. No Raft, clocks or sockets: callers pass `now`, serials and
// indexes, and store the results (docs/connect-ca.md). Values are immutable once built; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/config.h"
#include "core/status.h"
#include "identity/spiffe.h"
#include "x509/x509.h"

namespace gangway::ca {

using Time = x509::Time;

// One entry of `/v1/connect/ca/roots` (Consul's CARoot). The signing key never leaves the
// server's state and is not part of the JSON.
struct CARoot {
  std::string id;    // colon-hex SHA-1 fingerprint of root_cert
  std::string name;  // "Consul CA Root Cert"
  uint64_t serial_number = 0;
  std::string signing_key_id;  // colon-hex SKID of the cert that signs leaves in this DC
  std::string external_trust_domain;  // the cluster ID
  Time not_before;
  Time not_after;
  std::string root_cert;                        // PEM
  std::vector<std::string> intermediate_certs;  // PEMs shipped with leaves; empty: null
  bool active = false;
  std::string private_key_type = "ec";
  int private_key_bits = 256;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

// `/v1/connect/ca/roots` (Consul's IndexedCARoots).
struct IndexedCARoots {
  std::string active_root_id;
  std::string trust_domain;
  std::vector<CARoot> roots;
  uint64_t index = 0;  // X-Consul-Index

  const CARoot* Active() const;
};

nlohmann::json ToJson(const CARoot& root);
nlohmann::json ToJson(const IndexedCARoots& roots);
// `?pem=true`: every root's certificate, then its intermediates, each ending in a newline.
std::string RootsPem(const IndexedCARoots& roots);
// RFC 3339 in UTC with seconds ("2024-05-01T12:00:00Z"), as Go marshals time.Time.
std::string FormatTime(Time t);

struct LeafTemplate;  // what every leaf of one signer shares, prepared once (ca.cc)

// Whatever signs: a CA certificate and its key. `chain` holds the PEMs appended to each leaf
// it issues (a secondary's intermediate, the cross-signed new root). `Prepare` fills
// `leaf_template` (issuer name, AKID and fixed extensions pre-encoded, digest fetched once);
// without it every signing prepares its own, which costs about 5 % more per leaf.
struct SigningCA {
  x509::Certificate cert;
  x509::PrivateKey key;
  std::vector<std::string> chain;
  std::shared_ptr<const LeafTemplate> leaf_template;
};

// Checks that `key` is `cert`'s and that `cert` is a CA, and prepares the leaf template.
Status Prepare(SigningCA& ca);

// --- Primary: the root ------------------------------------------------------------------------

struct RootOptions {
  std::string cluster_id;   // a UUID; the trust domain is "<cluster_id>.consul"
  uint64_t serial = 1;      // Consul numbers roots from its provider state
  uint64_t index = 0;       // CreateIndex/ModifyIndex of the CARoot
  Time now;
  std::string unique_id;    // 8 characters for the CN; random when empty
};

struct RootMaterial {
  CARoot root;     // Active = true
  SigningCA ca;    // the root itself (the built-in primary signs leaves with it)
};

// A new root per `config` (key type/bits, RootCertTTL), or the operator's PrivateKey/RootCert.
// A generated root has CN "pri-<uid8>.consul.ca.<td8>.consul" and URI SAN spiffe://<td> (no
// DNS name constraint, unlike Consul: see docs/connect-ca.md). Validates `config` first.
Result<RootMaterial> CreateRoot(const CAConfig& config, const RootOptions& options);

// --- Secondaries: the intermediate ---------------------------------------------------------

struct IntermediateRequest {
  x509::PrivateKey key;  // stays in the secondary
  std::string csr_pem;   // sent to the primary (ConnectCA.SignIntermediate)
};

// Secondary side: a key per `config` and a CSR with CN "sec-<uid8>.consul.ca.<td8>.consul"
// and URI SAN spiffe://<primary td>.
Result<IntermediateRequest> GenerateIntermediateCsr(const CAConfig& config,
                                                    std::string_view trust_domain,
                                                    std::string_view unique_id = "");

// Primary side: signs a secondary's CSR with the active root for IntermediateCertTTL:
// CA:TRUE pathlen:0, URI from the CSR. Refuses
// a CSR with more than one URI or a URI of another trust domain (Consul's texts). Returns PEM.
Result<std::string> SignIntermediate(const SigningCA& root, const CAConfig& config,
                                     std::string_view trust_domain, std::string_view csr_pem,
                                     Time now, std::string serial = "");

// Secondary side, before use: the returned certificate is for our key, is a CA, has the one
// URI spiffe://<td>, and verifies against `root_pem` (Consul's texts).
Status ValidateIntermediate(std::string_view intermediate_pem, const x509::PrivateKey& key,
                            std::string_view root_pem, std::string_view trust_domain,
                            std::optional<Time> at = std::nullopt);

// The roots list a secondary stores: the primary's, with its own intermediate on the active
// root (IntermediateCerts and SigningKeyID).
IndexedCARoots SecondaryRoots(const IndexedCARoots& primary, std::string_view intermediate_pem);

// --- Leaves ---------------------------------------------------------------------------------

// Consul's IssuedCert, what `/v1/agent/connect/ca/leaf/<service>` returns.
struct IssuedCert {
  std::string serial_number;  // colon hex
  std::string cert_pem;       // leaf, then intermediates
  std::string private_key_pem;  // filled by the agent, which made the key
  std::string service, service_uri;
  std::string agent, agent_uri;
  std::string kind, kind_uri;  // "mesh-gateway"
  std::string server_uri;
  std::string ns, partition;
  Time valid_after;
  Time valid_before;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};
nlohmann::json ToJson(const IssuedCert& cert);

// What a leaf-signing server knows about itself.
struct LeafPolicy {
  std::string trust_domain;
  std::string datacenter;
  Duration leaf_ttl = std::chrono::hours(72);
  bool allow_server_ids = false;  // the leader signing its own server certificate
};

// The CSR checks Consul makes before signing, in its order and words: exactly one URI SAN
// ("CSR SAN contains an invalid number of URIs: N"), no email, a parseable SPIFFE ID of an
// allowed kind, our trust domain ("SPIFFE ID in CSR from a different trust domain: X, we are
// Y") and our datacenter. Agent IDs are re-homed to our trust domain, as Consul does for
// auto-encrypt. Returns the ID to put in the certificate.
Result<identity::SpiffeId> ValidateLeafCsr(const x509::Csr& csr, const LeafPolicy& policy);

struct LeafOptions {
  Time now;
  std::string serial;  // raw big-endian; default 128 random bits
  uint64_t index = 0;  // CreateIndex/ModifyIndex of the IssuedCert
};

// Parses, validates and signs: validity [now - 1m, now + leaf_ttl), the CSR's CN (or Consul's
// derived CN), URI SAN + the CSR's DNS/IP SANs, serverAuth+clientAuth, AKID = signer's SKID.
Result<IssuedCert> SignLeafCsr(const SigningCA& signer, const LeafPolicy& policy,
                               std::string_view csr_pem, const LeafOptions& options);
Result<IssuedCert> SignLeaf(const SigningCA& signer, const LeafPolicy& policy,
                            const x509::Csr& csr, const LeafOptions& options);

// Agent side: a key (the CA's type/bits) and a CSR for `id`, with extra DNS SANs.
struct LeafRequest {
  x509::PrivateKey key;
  std::string csr_pem;
};
Result<LeafRequest> GenerateLeafCsr(const identity::SpiffeId& id, const x509::KeySpec& spec = {},
                                    const std::vector<std::string>& dns_sans = {});

// --- Rotation -------------------------------------------------------------------------------

struct Rotation {
  RootMaterial new_root;          // active; IntermediateCerts = [cross-signed] unless forced
  std::string cross_signed_pem;   // "" with ForceWithoutCrossSigning
  IndexedCARoots roots;           // old roots kept with Active=false, then the new one
  SigningCA signer;               // signs new leaves: the new root + cross-signed chain
};

// A new root per `next` (validated), cross-signed by the current active root (its subject
// and key, issued by the old root, NotAfter capped at the old root's) unless
// `next.force_without_cross_signing`. Fails when the old key does not match the active root.
Result<Rotation> RotateRoot(const IndexedCARoots& current, const SigningCA& old_active,
                            const CAConfig& next, const RootOptions& options);

// Drops inactive roots whose certificates (and so every leaf they signed) have expired.
IndexedCARoots PruneExpiredRoots(const IndexedCARoots& roots, Time now);

}  // namespace gangway::ca
