// For fuzz targets over configuration text: reads the bytes as HCL and as JSON, as the agent and
// CLI do by file extension, and hands each document that parses to `decode`; a parse error's
// message is rendered (it must be valid text). Header-only; fuzz targets only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "codec/document.h"

namespace gangway::fuzz {

template <typename Decode>
void ForEachConfigDocument(const uint8_t* data, size_t size, Decode decode) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool hcl : {true, false}) {
    auto doc = hcl ? codec::ParseHcl(text, "fuzz.hcl") : codec::ParseJson(text, "fuzz.json");
    if (doc.ok()) {
      decode(*doc);
    } else {
      (void)nlohmann::json(doc.status().message()).dump();
    }
  }
}

}  // namespace gangway::fuzz
