// /v1/event/fire/<name> and /v1/event/list: Consul's user events. Firing gossips the event on the
// LAN pool; every agent (this one included) keeps the events that pass its filters in its
// client::UserEventBuffer, which the list endpoint reads and blocks on.
#include "api/http_api.h"
#include "core/base64.h"
#include "core/uuid.h"

namespace gangway::api {
namespace {

catalog::Json EventJson(const client::UserEvent& e) {
  catalog::Json j = catalog::Json::object();
  j["ID"] = e.id;
  j["Name"] = e.name;
  j["Payload"] = e.payload ? catalog::Json(Base64Encode(*e.payload)) : catalog::Json(nullptr);
  j["NodeFilter"] = e.node_filter;
  j["ServiceFilter"] = e.service_filter;
  j["TagFilter"] = e.tag_filter;
  j["Version"] = e.version;
  j["LTime"] = e.ltime;
  return j;
}

void EventFire(Call& call) {
  client::UserEvent e;
  e.name = call.rest;
  if (e.name.empty()) return call.Error(400, "Missing name");
  if (!Authorize(call, acl::Resource::kEvent, e.name, acl::Level::kWrite)) return;
  e.node_filter = call.req.Query("node").value_or("");
  e.service_filter = call.req.Query("service").value_or("");
  e.tag_filter = call.req.Query("tag").value_or("");
  if (!call.req.body.empty()) e.payload = call.req.body;
  if (Status s = client::ValidateUserEvent(e); !s.ok()) return call.Error(400, s.message());
  gossip::Pool* lan = call.backend.lan;
  if (lan == nullptr) return call.Error(500, "LAN gossip is disabled");
  e.id = NewUuid();
  e.version = client::kUserEventVersion;
  Status s = lan->serf().UserEvent(std::string(client::kUserEventPrefix) + e.name,
                                   client::EncodeUserEvent(e), false);
  if (!s.ok()) {
    // Serf counts the prefixed name and the encoded event against its 512-byte limit.
    return call.Fail(Status(s.code(), "Failed to fire event \"" + e.name + "\" (" +
                                          std::to_string(e.payload ? e.payload->size() : 0) +
                                          "-byte payload): " + s.message()));
  }
  call.Json(EventJson(e));
}

void EventList(Call& call) {
  std::string name = call.req.Query("name").value_or("");
  client::UserEventBuffer* events = call.backend.user_events;
  WatchHooks hooks;
  if (events != nullptr) {
    // Any new event may change the answer (its index is the last event's), so every run parks
    // on the whole buffer.
    hooks.watch = [events](const catalog::WatchSet&, std::function<void()> fire) {
      return events->Watch(std::move(fire));
    };
    hooks.unwatch = [events](catalog::WatchId id) { events->Unwatch(id); };
  }
  AclView acl(call);
  QueryFn fn = [events, name, acl](catalog::WatchSet*, http::Response* out) -> catalog::Index {
    catalog::Json arr = catalog::Json::array();
    bool filtered = false;
    const client::UserEvent* last = nullptr;
    std::vector<client::UserEvent> list;
    if (events != nullptr) list = events->Events();
    for (const auto& e : list) {
      if (!name.empty() && e.name != name) continue;
      if (!acl.Allowed(acl::Resource::kEvent, e.name, &filtered)) continue;
      arr.push_back(EventJson(e));
      last = &e;
    }
    *out = JsonResponse(arr);
    acl.Mark(filtered, out);
    // Consul's index here is not monotonic: it is derived from the last event's UUID, and a
    // blocking query returns as soon as it differs from the client's. 1 when there is none,
    // so watchers do not spin.
    if (last == nullptr) return 1;
    return client::UuidToUint64(last->id).value_or(1);
  };
  BlockingWith(call.backend, call.opts, std::move(hooks), std::move(fn), call.cancel,
               std::move(call.reply));
}

}  // namespace

void AddEventRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/event/fire/", {"PUT"}, EventFire});
  routes->push_back({"/v1/event/list", {"GET"}, EventList});
}

}  // namespace gangway::api
