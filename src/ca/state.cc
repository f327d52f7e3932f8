#include "ca/state.h"

#include <chrono>
#include <ctime>
#include <exception>

#include "core/uuid.h"

namespace gangway::ca {
namespace {

using json = nlohmann::json;

// Reads a field of a stored document; the message names the field.
template <typename T>
Status Get(const json& doc, const char* key, T* out, bool required = true) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) {
    if (!required) return Status::Ok();
    return InvalidArgument(std::string("CA state: missing ") + key);
  }
  try {
    *out = it->get<T>();
  } catch (const std::exception&) {
    return InvalidArgument(std::string("CA state: ") + key + " has the wrong type");
  }
  return Status::Ok();
}

Result<CARoot> RootFromStorage(const json& j) {
  CARoot r;
  std::string not_before, not_after;
  for (Status s : {Get(j, "ID", &r.id), Get(j, "Name", &r.name),
                   Get(j, "SerialNumber", &r.serial_number),
                   Get(j, "SigningKeyID", &r.signing_key_id),
                   Get(j, "ExternalTrustDomain", &r.external_trust_domain),
                   Get(j, "NotBefore", &not_before), Get(j, "NotAfter", &not_after),
                   Get(j, "RootCert", &r.root_cert),
                   Get(j, "IntermediateCerts", &r.intermediate_certs, false),
                   Get(j, "Active", &r.active), Get(j, "PrivateKeyType", &r.private_key_type),
                   Get(j, "PrivateKeyBits", &r.private_key_bits),
                   Get(j, "CreateIndex", &r.create_index, false),
                   Get(j, "ModifyIndex", &r.modify_index, false)}) {
    if (!s.ok()) return s;
  }
  auto nb = ParseTime(not_before);
  if (!nb.ok()) return nb.status();
  auto na = ParseTime(not_after);
  if (!na.ok()) return na.status();
  r.not_before = *nb;
  r.not_after = *na;
  return r;
}

}  // namespace

Result<Time> ParseTime(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    return InvalidArgument("CA state: bad time \"" + s + "\"");
  }
  // Time counts nanoseconds in 64 bits: 1677-09-21 to 2262-04-11. A stored time outside that
  // (a document from elsewhere, or corrupt) would overflow from_time_t's multiplication.
  using std::chrono::seconds;
  const auto lo = std::chrono::ceil<seconds>(Time::min().time_since_epoch()).count();
  const auto hi = std::chrono::floor<seconds>(Time::max().time_since_epoch()).count();
  auto out_of_range = [&] {
    return InvalidArgument("CA state: time \"" + s + "\" is out of range: times must lie between " +
                           FormatTime(Time(seconds(lo))) + " and " + FormatTime(Time(seconds(hi))));
  };
  // The year first, so that timegm never sees one it cannot represent either.
  if (tm.tm_year < 1677 - 1900 || tm.tm_year > 2262 - 1900) return out_of_range();
  const std::tm fields = tm;
  const std::time_t t = timegm(&tm);
  // timegm normalises what strptime let through ("02-31", second 60); Go's time.Parse refuses
  // such dates, and so do we.
  if (tm.tm_year != fields.tm_year || tm.tm_mon != fields.tm_mon || tm.tm_mday != fields.tm_mday ||
      tm.tm_hour != fields.tm_hour || tm.tm_min != fields.tm_min || tm.tm_sec != fields.tm_sec) {
    return InvalidArgument("CA state: bad time \"" + s + "\": no such date");
  }
  if (t < lo || t > hi) return out_of_range();
  return std::chrono::system_clock::from_time_t(t);
}

Result<SigningCA> CAState::Signer() const {
  const CARoot* active = roots.Active();
  if (active == nullptr) return Unavailable("no active CA root");
  SigningCA ca;
  auto cert = x509::ParseCertificatePem(signing_cert_pem);
  if (!cert.ok()) return Internal("CA signing certificate: " + cert.status().message());
  auto key = x509::ParsePrivateKeyPem(signing_key_pem);
  if (!key.ok()) return Internal("CA signing key: " + key.status().message());
  ca.cert = std::move(*cert);
  ca.key = std::move(*key);
  ca.chain = active->intermediate_certs;
  if (Status s = Prepare(ca); !s.ok()) return s;
  return ca;
}

json StateToStorage(const CAState& s) {
  json doc = ToJson(s.roots);
  doc["SigningCert"] = s.signing_cert_pem;
  doc["SigningKey"] = s.signing_key_pem;
  doc["Secondary"] = s.secondary;
  doc["NextSerial"] = s.next_serial;
  doc["PrimaryDatacenter"] = s.primary_datacenter;
  return doc;
}

Result<IndexedCARoots> RootsFromJson(const json& doc, uint64_t index) {
  if (!doc.is_object()) return InvalidArgument("CA roots: not a map");
  IndexedCARoots roots;
  for (Status st : {Get(doc, "ActiveRootID", &roots.active_root_id),
                    Get(doc, "TrustDomain", &roots.trust_domain)}) {
    if (!st.ok()) return st;
  }
  auto it = doc.find("Roots");
  if (it == doc.end() || !it->is_array()) return InvalidArgument("CA roots: Roots is not a list");
  for (const auto& r : *it) {
    auto root = RootFromStorage(r);
    if (!root.ok()) return root.status();
    roots.roots.push_back(std::move(*root));
  }
  roots.index = index;
  return roots;
}

std::string NewClusterId() { return NewUuid(); }

Result<CAState> StateFromStorage(const json& doc, uint64_t index) {
  auto roots = RootsFromJson(doc, index);
  if (!roots.ok()) return roots.status();
  CAState s;
  s.roots = std::move(*roots);
  for (Status st : {Get(doc, "SigningCert", &s.signing_cert_pem),
                    Get(doc, "SigningKey", &s.signing_key_pem),
                    Get(doc, "Secondary", &s.secondary, false),
                    Get(doc, "NextSerial", &s.next_serial, false),
                    Get(doc, "PrimaryDatacenter", &s.primary_datacenter, false)}) {
    if (!st.ok()) return st;
  }
  return s;
}

json ConfigToStorage(const CAConfig& c) {
  json doc = EncodeCAConfiguration(c);
  doc["ClusterID"] = c.cluster_id;
  return doc;
}

Result<CAConfig> ConfigFromStorage(const json& doc) {
  auto c = DecodeCAConfiguration(doc);
  if (!c.ok()) return c.status();
  for (Status st : {Get(doc, "ClusterID", &c->cluster_id, false),
                    Get(doc, "State", &c->state, false),
                    Get(doc, "CreateIndex", &c->create_index, false),
                    Get(doc, "ModifyIndex", &c->modify_index, false)}) {
    if (!st.ok()) return st;
  }
  return c;
}

}  // namespace gangway::ca
