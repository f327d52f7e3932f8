// Fuzzes ?filter= expressions: parse untrusted text, and when it parses, evaluate it against a
// health-service row so the evaluator sees every operator the parser can produce.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "api/filter.h"

namespace {
const nlohmann::json& SampleRow() {
  static const nlohmann::json row = nlohmann::json::parse(R"({
    "Node": {"Node": "node-1", "Address": "10.0.0.1", "Meta": {"rack": "r1"}},
    "Service": {"ID": "web-1", "Service": "web", "Tags": ["v1", "primary"], "Port": 80,
                "Meta": {"version": "2", "my-key": ""}, "EnableTagOverride": false,
                "Weights": {"Passing": 1.5}, "Proxy": null},
    "Checks": [{"Status": "passing", "Notes": "", "Nested": [[{"X": 1}]]},
               {"Status": "critical", "Output": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}]
  })");
  return row;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto filter = gangway::api::Filter::Parse(text);
  if (filter.ok()) {
    (void)filter->Matches(SampleRow());
  } else if (filter.status().message().empty()) {
    __builtin_trap();  // every refusal must say why
  }
  return 0;
}
