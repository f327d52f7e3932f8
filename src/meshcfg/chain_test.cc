// Golden cases of the discovery-chain compiler under testdata/discovery-chain/, one file each:
//
//   # what the case shows
//   --- request           ChainRequest as JSON: Service, Datacenter (dc1), TrustDomain,
//   {...}                 OverrideMeshGateway {Mode}, OverrideProtocol, OverrideConnectTimeout
//   --- entry             (any number) one config entry in HCL
//   <HCL>
//   --- chain | --- error  the compiled chain as ChainToJson writes it, or the exact error
//
// GANGWAY_UPDATE_GOLDEN=1 rewrites the last section from what the compiler gives (then review
// the diff). Every entry must decode and validate: the chain is compiled from entries that the
// servers would have stored.
#include "meshcfg/chain.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codec/document.h"

namespace gangway::meshcfg {
namespace {

namespace fs = std::filesystem;

constexpr char kTrustDomain[] = "11111111-2222-3333-4444-555555555555.consul";

struct Case {
  std::string head;  // the file up to its result section, kept when rewriting
  std::string request;
  std::vector<std::string> entries;
  std::string result_kind;  // chain | error
  std::string result;
};

Case ReadCase(const fs::path& path) {
  std::ifstream in(path);
  Case c;
  std::string line;
  std::string* section = nullptr;
  bool in_result = false;
  while (std::getline(in, line)) {
    if (line == "--- request") {
      section = &c.request;
    } else if (line == "--- entry") {
      c.entries.emplace_back();
      section = &c.entries.back();
    } else if (line == "--- chain" || line == "--- error") {
      c.result_kind = line.substr(4);
      section = &c.result;
      in_result = true;
      continue;
    }
    if (!in_result) c.head += line + "\n";
    if (section && line.rfind("--- ", 0) != 0) *section += line + "\n";
  }
  while (!c.result.empty() && c.result.back() == '\n') c.result.pop_back();
  return c;
}

Result<ChainRequest> ParseRequest(const std::string& text) {
  Json j = Json::parse(text.empty() ? "{}" : text);
  ChainRequest r;
  r.service = j.value("Service", "web");
  r.datacenter = j.value("Datacenter", "dc1");
  r.trust_domain = j.value("TrustDomain", kTrustDomain);
  if (j.contains("OverrideMeshGateway")) {
    r.override_mesh_gateway.mode = j["OverrideMeshGateway"].value("Mode", "");
  }
  r.override_protocol = j.value("OverrideProtocol", "");
  if (j.contains("OverrideConnectTimeout")) {
    Result<Duration> d = ParseDuration(j["OverrideConnectTimeout"].get<std::string>());
    if (!d.ok()) return d.status();
    r.override_connect_timeout = *d;
  }
  return r;
}

Result<EntrySet> ParseEntries(const std::vector<std::string>& texts) {
  EntrySet set;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto doc = codec::ParseHcl(texts[i], "entry" + std::to_string(i) + ".hcl");
    if (!doc.ok()) return doc.status();
    Result<ConfigEntry> e = DecodeConfigEntry(*doc);
    if (!e.ok()) return e.status();
    if (Status s = Validate(*e); !s.ok()) return s;
    if (Status s = Normalize(&*e); !s.ok()) return s;
    set.Add(*e);
  }
  return set;
}

std::vector<fs::path> CaseFiles() {
  std::vector<fs::path> files;
  for (const auto& f : fs::directory_iterator(fs::path(GANGWAY_TESTDATA_DIR) / "discovery-chain")) {
    if (f.path().extension() == ".txt") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ChainGolden, EveryCaseCompilesAsRecorded) {
  std::vector<fs::path> files = CaseFiles();
  ASSERT_GE(files.size(), 10u);
  const bool update = std::getenv("GANGWAY_UPDATE_GOLDEN") != nullptr;
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.filename().string());
    Case c = ReadCase(path);
    Result<ChainRequest> request = ParseRequest(c.request);
    ASSERT_TRUE(request.ok()) << request.status().message();
    Result<EntrySet> entries = ParseEntries(c.entries);
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    Result<CompiledChain> chain = CompileChain(*request, *entries);
    std::string kind = chain.ok() ? "chain" : "error";
    std::string got = chain.ok() ? ChainToJson(*chain).dump(2) : chain.status().message();
    if (update) {
      std::ofstream(path, std::ios::binary) << c.head << "--- " << kind << "\n" << got << "\n";
      continue;
    }
    EXPECT_EQ(kind, c.result_kind) << got;
    EXPECT_EQ(got, c.result);
    if (chain.ok()) {
      // The JSON names every node and target the chain holds, and nothing dangles.
      for (const auto& [key, node] : chain->nodes) {
        EXPECT_EQ(key, node.Key());
        for (const ChainRoute& r : node.routes) EXPECT_TRUE(chain->nodes.contains(r.next_node));
        for (const ChainSplit& s : node.splits) EXPECT_TRUE(chain->nodes.contains(s.next_node));
        if (node.resolver) {
          EXPECT_TRUE(chain->targets.contains(node.resolver->target));
          for (const std::string& id : node.resolver->failover) {
            EXPECT_TRUE(chain->targets.contains(id)) << id;
          }
        }
      }
      EXPECT_TRUE(chain->nodes.contains(chain->start_node));
    }
  }
}

ChainRequest Request(const std::string& service) {
  ChainRequest r;
  r.service = service;
  r.datacenter = "dc1";
  r.trust_domain = kTrustDomain;
  return r;
}

Split SplitTo(double weight, const std::string& service) {
  Split s;
  s.weight = weight;
  s.service = service;
  return s;
}

TEST(CompileChain, SplittersThatLeadBackToThemselvesAreAnError) {
  EntrySet set;
  ServiceDefaults http;
  http.protocol = "http";
  for (const char* name : {"web", "api"}) {
    http.name = name;
    set.service_defaults[name] = http;
  }
  ServiceSplitter web;
  web.name = "web";
  web.splits = {SplitTo(50, ""), SplitTo(50, "api")};
  ServiceSplitter api;
  api.name = "api";
  api.splits = {SplitTo(50, ""), SplitTo(50, "web")};
  set.splitters = {{"web", web}, {"api", api}};
  Result<CompiledChain> chain = CompileChain(Request("web"), set);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().message(),
            "detected circular reference: [splitter:web.default.default -> "
            "splitter:api.default.default -> splitter:web.default.default]");
}

TEST(CompileChain, ExternalSniReplacesTheSniAndBypassesGateways) {
  EntrySet set;
  ProxyDefaults pd;
  pd.name = "global";
  pd.mesh_gateway.mode = "local";
  set.proxy_defaults = pd;
  ServiceDefaults ext;
  ext.name = "billing";
  ext.external_sni = "billing.example.com";
  set.service_defaults["billing"] = ext;
  Result<CompiledChain> chain = CompileChain(Request("billing"), set);
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  const ChainTarget& t = chain->targets.at("billing.default.default.dc1");
  EXPECT_EQ(t.sni, "billing.example.com");
  EXPECT_EQ(t.name, "billing.default.dc1.internal." + std::string(kTrustDomain));
  EXPECT_TRUE(t.external);
  EXPECT_EQ(t.mesh_gateway.mode, "");

  ServiceResolver r;
  r.name = "billing";
  r.subsets["v1"] = ResolverSubset{};
  set.resolvers["billing"] = r;
  chain = CompileChain(Request("billing"), set);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().message(),
            "service \"billing\" has an external SNI set; cannot define subsets for external "
            "services");
}

TEST(CompileChain, ServiceAndDatacenterAreRequired) {
  EXPECT_FALSE(CompileChain(Request(""), EntrySet{}).ok());
  ChainRequest r = Request("web");
  r.datacenter.clear();
  EXPECT_FALSE(CompileChain(r, EntrySet{}).ok());
}

}  // namespace
}  // namespace gangway::meshcfg
