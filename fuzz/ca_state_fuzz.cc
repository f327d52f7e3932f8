// Fuzz target for the Connect CA documents as servers and agents read them: the stored roots
// (with the signing material) and configuration from the Raft log, and the roots document an
// agent or a secondary receives from a server. Input: JSON. Beyond "no crash": whatever
// decodes re-encodes and decodes to the same roots.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ca/state.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gangway;  // NOLINT: a fuzz harness
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  if (auto roots = ca::RootsFromJson(doc, 7); roots.ok()) {
    auto again = ca::RootsFromJson(ca::ToJson(*roots), 7);
    Check(again.ok() && again->roots.size() == roots->roots.size() &&
          again->active_root_id == roots->active_root_id);
    (void)roots->Active();
    (void)ca::RootsPem(*roots);
  }
  if (auto st = ca::StateFromStorage(doc, 7); st.ok()) {
    Check(ca::StateFromStorage(ca::StateToStorage(*st), 7).ok());
    (void)st->Signer();  // PEM parsing of whatever the document holds
  }
  if (auto config = ca::ConfigFromStorage(doc); config.ok()) {
    (void)ca::Validate(*config);
    Check(ca::ConfigFromStorage(ca::ConfigToStorage(*config)).ok());
  }
  return 0;
}
