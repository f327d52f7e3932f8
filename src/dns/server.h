// The DNS interface of an agent: UDP and TCP on one port, answering Consul's names from the
// catalog (through a Catalog the agent provides) and forwarding other names to the recursors.
// Runs on the control loop, where the catalog is read: a UDP wake-up reads a batch of queries
// with recvmmsg and answers those the local store can answer at once with one sendmmsg.
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"
#include "dns/answer.h"
#include "dns/config.h"
#include "net/event_loop.h"

namespace gangway::dns {

// What the DNS server reads. Each call answers exactly once through `done`, on the loop thread,
// possibly before it returns. An unknown datacenter is a NotFound status; other errors are
// SERVFAIL.
class Catalog {
 public:
  template <typename T>
  using Done = std::function<void(Result<T>)>;
  virtual ~Catalog() = default;
  virtual std::string Datacenter() const = 0;
  // The health endpoint's rows for a service (connect: its Connect-capable endpoints).
  virtual void ServiceNodes(const std::string& dc, const std::string& service, bool connect,
                            Done<std::vector<catalog::CheckServiceNode>> done) = 0;
  // The datacenter's mesh gateways, with their checks.
  virtual void MeshGateways(const std::string& dc,
                            Done<std::vector<catalog::CheckServiceNode>> done) = 0;
  virtual void Node(const std::string& dc, const std::string& node,
                    Done<std::optional<catalog::Node>> done) = 0;
  virtual void Nodes(const std::string& dc, Done<std::vector<catalog::Node>> done) = 0;
  virtual void AllServiceNodes(const std::string& dc,
                               Done<std::vector<catalog::ServiceNode>> done) = 0;
  // Executes a prepared query (name or ID) in dc for a client at source_ip ("" unknown; the
  // query's Near "_ip" sorts by it). An unknown query is NotFound, as is an unknown datacenter.
  virtual void PreparedQuery(const std::string& dc, const std::string& query,
                             const std::string& source_ip, Done<QueryAnswer> done) = 0;
};

class Server {
 public:
  Server(net::EventLoop& loop, Catalog& catalog, Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds UDP and TCP on address:port (port 0: a free port for both); returns the port.
  Result<int> Listen(const std::string& address, int port);
  void Close();

  // Answers one query message; done gets the reply bytes ("" when no reply is due, e.g. for a
  // response sent to us). Used by both transports and by tests.
  void Answer(std::span<const uint8_t> query, bool tcp, std::function<void(std::string)> done);

  struct Stats {
    uint64_t queries = 0;
    uint64_t malformed = 0;
    uint64_t recursed = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gangway::dns
