// Fuzz target for config entries as `config write` and PUT /v1/config receive them: the bytes
// are parsed as HCL and as JSON, and whatever parses is decoded as a config entry. Beyond "no
// crash", it checks what callers rely on: messages are valid UTF-8 (dump() would throw),
// Validate and Normalize never crash, and an entry that normalizes comes back equal from the JSON
// that EncodeConfigEntry writes (what `config read` shows and a later write sends). A document
// in the tutorial's service-router shape goes through ReadTutorialRouter instead, as `config
// write` sends it, and what that reads must translate into entries that decode.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "codec/document.h"
#include "config_text.h"
#include "meshcfg/config_entry.h"
#include "meshcfg/tutorial_router.h"

namespace {

using gangway::meshcfg::ConfigEntry;
using gangway::meshcfg::Json;

// The canonical entries a tutorial router stands for must decode: config write sends them.
void Translate(const gangway::codec::Document& doc) {
  auto router = gangway::meshcfg::ReadTutorialRouter(doc.value, &doc);
  if (!router.ok()) {
    (void)Json(router.status().message()).dump();
    return;
  }
  if (router->redirects.empty()) std::abort();
  (void)Json(gangway::meshcfg::DescribeTranslation(*router)).dump();
  std::vector<Json> entries;
  for (const auto& [service, to] : router->redirects) {
    entries.push_back(gangway::meshcfg::RedirectResolver(service, to, nullptr));
  }
  if (router->mesh_gateway) entries.push_back(gangway::meshcfg::LocalGatewayProxyDefaults(nullptr));
  for (const Json& e : entries) {
    gangway::codec::Document d;
    d.value = Json::parse(e.dump());
    if (!gangway::meshcfg::DecodeConfigEntry(d).ok()) std::abort();
  }
}

void Decode(const gangway::codec::Document& doc) {
  if (gangway::meshcfg::IsTutorialRouter(doc.value)) {
    Translate(doc);
    return;
  }
  auto entry = gangway::meshcfg::DecodeConfigEntry(doc);
  if (!entry.ok()) {
    (void)Json(entry.status().message()).dump();
    return;
  }
  if (entry->kind().empty()) std::abort();
  gangway::Status valid = gangway::meshcfg::Validate(*entry);
  (void)Json(valid.message()).dump();
  ConfigEntry normal = *entry;
  if (!gangway::meshcfg::Normalize(&normal).ok()) return;
  Json api = gangway::meshcfg::EncodeConfigEntry(normal);
  gangway::codec::Document again;
  again.value = Json::parse(api.dump());
  auto back = gangway::meshcfg::DecodeConfigEntry(again);
  if (!back.ok()) std::abort();
  if (!gangway::meshcfg::Normalize(&*back).ok()) std::abort();
  if (!(*back == normal)) std::abort();
  if (gangway::meshcfg::Validate(*back).ok() != valid.ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gangway::fuzz::ForEachConfigDocument(data, size, Decode);
  return 0;
}
