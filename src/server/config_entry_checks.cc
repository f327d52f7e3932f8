#include "server/config_entry_checks.h"

#include "codec/document.h"
#include "meshcfg/config_entry.h"

namespace gangway::server {
namespace {

Result<meshcfg::ConfigEntry> Decode(const nlohmann::json& body) {
  codec::Document doc;
  doc.value = body;
  return meshcfg::DecodeConfigEntry(doc);
}

}  // namespace

ConfigEntryChecks MeshcfgConfigEntryChecks() {
  ConfigEntryChecks c;
  c.normalize = [](const nlohmann::json& body) -> Result<nlohmann::json> {
    Result<meshcfg::ConfigEntry> entry = Decode(body);
    if (!entry.ok()) return InvalidArgument(entry.status().message());
    // A normalization that fails (a wrong fixed name) is the write's validation error: keep the
    // entry as decoded and let validate() report it with Consul's status.
    meshcfg::ConfigEntry normalized = *entry;
    const meshcfg::ConfigEntry& chosen = meshcfg::Normalize(&normalized).ok() ? normalized : *entry;
    nlohmann::json out = meshcfg::EncodeConfigEntry(chosen);
    // The table is keyed by name: the singleton mesh entry is stored under its fixed name even
    // though Consul's JSON form leaves it out.
    if (!out.contains("Name") && !chosen.name().empty()) out["Name"] = chosen.name();
    return out;
  };
  c.validate = [](const nlohmann::json& stored) -> Status {
    Result<meshcfg::ConfigEntry> entry = Decode(stored);
    if (!entry.ok()) return entry.status();
    return meshcfg::Validate(*entry);
  };
  c.known_kind = [](std::string_view kind) { return meshcfg::IsKnownKind(kind); };
  return c;
}

}  // namespace gangway::server
