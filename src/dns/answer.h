// Consul's DNS answers (reference: consul-api-more.md §4.3–4.7) as pure functions from what the
// catalog said to a reply message: health filtering, shuffling, the records of each lookup
// type, SRV targets with their additional records, TTLs, SOA/NS, and truncation. Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "dns/config.h"
#include "dns/lookup.h"
#include "dns/message.h"

namespace gangway::dns {

// The reply skeleton for a query: id, opcode and RD copied, QR and (inside the domain) AA set,
// RA when recursors exist, the first question echoed in lower case, the OPT record echoed with
// the client's UDP size (and its client subnet with scope 0).
Message ReplyTo(const Message& query, const Lookup& l, const Config& cfg);

// The domain's SOA record (serial: now, as Unix seconds).
Record SoaRecord(const std::string& domain, const Config& cfg, uint32_t now_unix);

// NXDOMAIN, or NOERROR with no data, with the SOA in Authority.
void NameError(const std::string& domain, const Config& cfg, uint32_t now, Message* out);
void NoData(const std::string& domain, const Config& cfg, uint32_t now, Message* out);

struct ServerNode {
  std::string node;
  std::string address;
};

// Answers for each lookup kind. `dc` is the datacenter the name resolves in (never empty).
// Service and connect lookups: `rows` as the health endpoint returns them.
void AnswerService(const Lookup& l, uint16_t qtype, const std::string& dc,
                   std::vector<catalog::CheckServiceNode> rows, const Config& cfg, uint32_t now,
                   std::mt19937& rng, Message* out);
// A prepared query's answer (reference §3.5, §4.6): the instances it chose, in its order.
struct QueryAnswer {
  std::vector<catalog::CheckServiceNode> nodes;  // filtered and ordered by the query
  std::string service;                           // the service it asked for
  std::string datacenter;                        // where it was answered (after any failover)
  std::string ttl;                               // its DNS.TTL ("": the service's TTL)
};
// A prepared query lookup: the query's instances as a service lookup's records (no health
// filter or shuffle of its own), with the query's TTL; none at all is NXDOMAIN. A client subnet
// option is echoed with scope = source prefix, since the answer may depend on it.
void AnswerQuery(const Lookup& l, uint16_t qtype, const QueryAnswer& q, const Config& cfg,
                 uint32_t now, Message* out);
// The records of a service lookup for instances already chosen and ordered, with `ttl`.
void AnswerInstances(const Lookup& l, uint16_t qtype, const std::string& dc,
                     const std::vector<catalog::CheckServiceNode>& rows, uint32_t ttl,
                     const Config& cfg, uint32_t now, Message* out);
void AnswerNode(const Lookup& l, uint16_t qtype, const std::string& dc,
                const std::optional<catalog::Node>& node, const Config& cfg, uint32_t now,
                Message* out);
void AnswerAddr(const Lookup& l, uint16_t qtype, const Config& cfg, uint32_t now, Message* out);
// PTR: the nodes and service instances whose address is l.address (nodes win).
void AnswerPtr(const Lookup& l, uint16_t qtype, const std::string& dc,
               const std::vector<catalog::Node>& nodes,
               const std::vector<catalog::ServiceNode>& services, const Config& cfg, uint32_t now,
               Message* out);
// SOA and NS questions for any name in the domain; `servers` are the datacenter's servers.
void AnswerDomain(const Lookup& l, uint16_t qtype, const std::string& dc,
                  const std::vector<ServerNode>& servers, const Config& cfg, uint32_t now,
                  Message* out);

// Trims an answer to what the transport carries (§4.5): UDP without EDNS keeps at most
// min(8, udp_answer_limit) answers and 512 bytes; with EDNS the client's size; TCP 4096 answers
// (1024 SRV) and 65523 bytes; a_record_limit everywhere. Authority goes first, and Additional is
// rebuilt to match the kept SRV targets. TC is set only with enable_truncate.
void Truncate(bool tcp, const Config& cfg, Message* out);

// Whether an address is an IP literal (4 or 6), and its bytes.
int IpFamily(const std::string& address, std::array<uint8_t, 16>* bytes = nullptr);

}  // namespace gangway::dns
