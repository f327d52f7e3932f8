// /v1/operator/raft/configuration, /v1/operator/raft/peer and /v1/snapshot (Raft and snapshots).
#include <chrono>

#include "api/http_api.h"
#include "codec/snapshot_archive.h"

namespace gangway::api {
namespace {

void RaftConfiguration(Call& call) {
  if (!Authorize(call, acl::Resource::kOperator, "", acl::Level::kRead)) return;
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
  if (!Authorize(call, acl::Resource::kOperator, "", acl::Level::kWrite)) return;
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
  // A snapshot holds every secret (tokens included): management only, as Consul.
  if (!Authorize(call, acl::Resource::kAcl, "", acl::Level::kWrite)) return;
  auto* s = call.backend.server;
  if (call.req.method == "GET") {
    // The copy is taken here, at one index; encoding it and its archive (checksum included)
    // runs on a worker so the control loop keeps serving (hundreds of ms on a large store).
    std::shared_ptr<const catalog::SnapshotCopy> copy = s->store().CopyForSnapshot();
    codec::SnapshotMeta meta;
    meta.index = copy->LastIndex();
    meta.term = s->RaftTerm();
    meta.datacenter = call.backend.info.datacenter;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    meta.id = std::to_string(meta.term) + "-" + std::to_string(meta.index) + "-" +
              std::to_string(ms);
    auto encode = [copy, meta]() -> Result<std::string> {
      auto state = copy->Encode();
      if (!state.ok()) return state.status();
      codec::SnapshotArchive a;
      a.meta = meta;
      a.state = std::move(*state);
      return codec::EncodeSnapshotArchive(a);
    };
    auto respond = [backend = &call.backend, reply = std::move(call.reply),
                    index = meta.index](Result<std::string> body) {
      if (!body.ok()) return reply(StatusResponse(body.status()));
      http::Response r;
      r.status = 200;
      r.body = std::move(*body);
      r.Set("Content-Type", "application/octet-stream");
      SetMetaHeaders(*backend, index, &r);
      reply(std::move(r));
    };
    if (call.backend.workers != nullptr && call.backend.loop != nullptr) {
      call.backend.workers->Run(*call.backend.loop, std::move(encode), std::move(respond));
    } else {
      respond(encode());
    }
    return;
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
