// /v1/operator/raft/configuration, /v1/operator/raft/peer and /v1/snapshot (Raft and snapshots).
#include <chrono>

#include "api/http_api.h"
#include "codec/snapshot_archive.h"

namespace gangway::api {
namespace {

void RaftConfiguration(Call& call) {
  auto* s = call.backend.server;
  catalog::Json servers = catalog::Json::array();
  for (const auto& r : s->RaftConfiguration()) {
    servers.push_back({{"ID", r.id},
                       {"Node", r.node},
                       {"Address", r.address},
                       {"Leader", r.leader},
                       {"Voter", r.voter},
                       {"ProtocolVersion", "3"},
                       {"LastIndex", s->RaftIndex()}});
  }
  call.Json({{"Servers", servers}, {"Index", s->RaftIndex()}});
}

void RemovePeer(Call& call) {
  std::string id = call.req.Query("id").value_or("");
  std::string address = call.req.Query("address").value_or("");
  if (id.empty() && address.empty()) {
    return call.Error(400, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove");
  }
  auto reply = std::move(call.reply);
  call.backend.server->RemovePeer(id, address, [reply](Status s) {
    if (!s.ok()) return reply(StatusResponse(s));
    reply(http::Response::Text(200, ""));
  });
}

void Snapshot(Call& call) {
  auto* s = call.backend.server;
  if (call.req.method == "GET") {
    codec::SnapshotArchive a;
    a.state = s->Snapshot();
    a.meta.index = s->RaftIndex();
    a.meta.term = s->RaftTerm();
    a.meta.datacenter = call.backend.info.datacenter;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    a.meta.id = std::to_string(a.meta.term) + "-" + std::to_string(a.meta.index) + "-" +
                std::to_string(ms);
    http::Response r;
    r.status = 200;
    r.body = codec::EncodeSnapshotArchive(a);
    r.Set("Content-Type", "application/octet-stream");
    SetMetaHeaders(call.backend, a.meta.index, &r);
    return call.Respond(std::move(r));
  }
  auto archive = codec::DecodeSnapshotArchive(call.req.body);
  if (!archive.ok()) return call.Error(400, "Failed to read snapshot: " + archive.status().message());
  auto reply = std::move(call.reply);
  s->Restore(std::move(archive->state), [reply](Status st) {
    if (!st.ok()) return reply(ErrorResponse(500, "Failed to restore snapshot: " + st.message()));
    reply(http::Response::Text(200, ""));
  });
}

}  // namespace

void AddRaftRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/operator/raft/configuration", {"GET"}, RaftConfiguration, true, true});
  routes->push_back({"/v1/operator/raft/peer", {"DELETE"}, RemovePeer, true});
  routes->push_back({"/v1/snapshot", {"GET", "PUT"}, Snapshot, true});
}

}  // namespace gangway::api
