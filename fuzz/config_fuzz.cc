// Fuzz target for configuration files: the bytes are parsed as HCL and as commented JSON, and
// whatever parses is decoded as a service definition file. Beyond "no crash", it checks what
// callers rely on: parsed trees and error messages are valid UTF-8 (dump() would throw), and a
// decoded registration re-encoded as the API body (what `services register` sends) decodes
// again to the same body.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "catalog/service_definition.h"
#include "codec/document.h"
#include "config_text.h"

namespace {

using gangway::catalog::Json;

void Decode(const gangway::codec::Document& doc) {
  (void)doc.value.dump();
  auto regs = gangway::catalog::DecodeServicesFile(doc);
  if (!regs.ok()) {
    (void)Json(regs.status().message()).dump();
    return;
  }
  for (const auto& reg : *regs) {
    for (const auto& note : reg.notes) (void)Json(note).dump();
    Json api = gangway::catalog::ServiceRegistrationToApiJson(reg);
    auto again = gangway::catalog::DecodeServiceRegistration(Json::parse(api.dump()));
    if (!again.ok()) std::abort();
    if (gangway::catalog::ServiceRegistrationToApiJson(*again) != api) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gangway::fuzz::ForEachConfigDocument(data, size, Decode);
  return 0;
}
