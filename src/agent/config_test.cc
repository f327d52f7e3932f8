#include "agent/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace gangway::agent {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gangway-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DevDefaults) {
  auto c = LoadConfig({"-dev"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->dev);
  EXPECT_TRUE(c->server);
  EXPECT_TRUE(c->connect_enabled);
  EXPECT_EQ(c->datacenter, "dc1");
  EXPECT_EQ(c->ports.http, 8500);
  EXPECT_EQ(c->ports.grpc, 8502);
  EXPECT_EQ(c->client_addrs, std::vector<std::string>{"127.0.0.1"});
}

TEST_F(ConfigTest, HclFileAndFlagsOverride) {
  auto f = Write("a.hcl", R"(
server = true
bootstrap = false
datacenter = "DC2"
data_dir = "/tmp/x"
retry_join = ["10.1.1.1", "10.1.1.2"]
ports {
  http = 9500
  serf_lan = 9301
}
tls {
  defaults {
    ca_file = "ca.pem"
    verify_incoming = true
  }
}
)");
  auto c = LoadConfig({"-config-file", f, "-http-port=0", "-node", "n1"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->server);
  EXPECT_EQ(c->datacenter, "dc2");
  EXPECT_EQ(c->ports.http, 0);
  EXPECT_EQ(c->ports.serf_lan, 9301);
  EXPECT_EQ(c->node_name, "n1");
  EXPECT_EQ(c->retry_join.size(), 2u);
  EXPECT_EQ(c->tls_defaults.ca_file, "ca.pem");
  EXPECT_EQ(c->tls_defaults.verify_incoming, std::optional<bool>(true));
}

TEST_F(ConfigTest, DnsSettings) {
  auto f = Write("dns.hcl", R"(
domain = "Mesh.Internal"
alt_domain = "alt.example."
recursors = ["10.0.0.53", "10.0.0.54:5353"]
addresses { dns = "127.0.0.2" }
dns_config {
  allow_stale = false
  max_stale = "10s"
  node_ttl = "30s"
  service_ttl { "*" = "5s", "db" = "1m" }
  udp_answer_limit = 5
  a_record_limit = 2
  enable_truncate = true
  only_passing = true
  recursor_timeout = "500ms"
  recursor_strategy = "random"
  disable_compression = true
  enable_additional_node_meta_txt = false
  soa { min_ttl = 60, refresh = 100 }
}
)");
  auto c = LoadConfig({"-dev", "-config-file", f, "-recursor", "10.0.0.55"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  const dns::Config& d = c->dns;
  EXPECT_EQ(d.domain, "mesh.internal.");
  EXPECT_EQ(d.alt_domain, "alt.example.");
  EXPECT_EQ(d.recursors, (std::vector<std::string>{"10.0.0.53", "10.0.0.54:5353", "10.0.0.55"}));
  EXPECT_EQ(c->dns_addrs, std::vector<std::string>{"127.0.0.2"});
  EXPECT_FALSE(d.allow_stale);
  EXPECT_EQ(d.max_stale, std::chrono::seconds(10));
  EXPECT_EQ(d.node_ttl, std::chrono::seconds(30));
  EXPECT_EQ(dns::ServiceTtl(d, "db"), 60u);
  EXPECT_EQ(dns::ServiceTtl(d, "web"), 5u);
  EXPECT_EQ(d.udp_answer_limit, 5);
  EXPECT_EQ(d.a_record_limit, 2);
  EXPECT_TRUE(d.enable_truncate);
  EXPECT_TRUE(d.only_passing);
  EXPECT_EQ(d.recursor_timeout, std::chrono::milliseconds(500));
  EXPECT_TRUE(d.recursor_random);
  EXPECT_TRUE(d.disable_compression);
  EXPECT_FALSE(d.enable_additional_node_meta_txt);
  EXPECT_EQ(d.soa.min_ttl, 60u);
  EXPECT_EQ(d.soa.refresh, 100u);
  EXPECT_EQ(d.soa.expire, 86400u);

  auto defaults = LoadConfig({"-dev"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->dns.domain, "consul.");
  EXPECT_EQ(defaults->dns.udp_answer_limit, 3);
  EXPECT_EQ(defaults->dns_addrs, std::vector<std::string>{"127.0.0.1"});
  auto flags = LoadConfig({"-dev", "-domain", "example.internal", "-alt-domain", "Alt"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->dns.domain, "example.internal.");
  EXPECT_EQ(flags->dns.alt_domain, "alt.");
}

TEST_F(ConfigTest, DnsSettingsErrors) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const auto& [text, error] : std::initializer_list<Case>{
           {"dns_config { only_pasing = true }", "did you mean \"dns_config.only_passing\""},
           {"dns_config { recursor_strategy = \"fastest\" }",
            "dns_config.recursor_strategy: invalid value \"fastest\" (expected sequential or random)"},
           {"dns_config { node_ttl = \"ten\" }", "dns_config.node_ttl"},
           {"dns_config { udp_answer_limit = -1 }", "dns_config.udp_answer_limit: must not be negative"},
           {"dns_config { service_ttl { web = \"soon\" } }", "dns_config.service_ttl.web"},
           {"dns_config { soa { retry = -5 } }", "dns_config.soa.retry: must be between 0 and 4294967295"},
           {"domain = \".\"", "domain: the root zone cannot be the DNS domain"},
       }) {
    auto f = Write("bad.hcl", text);
    auto c = LoadConfig({"-dev", "-config-file", f});
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find(error), std::string::npos) << c.status().message();
  }
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineAndSuggestion) {
  auto f = Write("bad.hcl", "server = true\ndatacentre = \"dc1\"\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_FALSE(c.ok());
  const auto& m = c.status().message();
  EXPECT_NE(m.find("\"datacentre\""), std::string::npos) << m;
  EXPECT_NE(m.find("bad.hcl:2"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean \"datacenter\""), std::string::npos) << m;
}

TEST_F(ConfigTest, UnknownNestedKey) {
  auto f = Write("bad.json", "{\n  \"ports\": {\n    \"htpp\": 1\n  }\n}\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("ports.htpp"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("ports.http"), std::string::npos) << c.status().message();
}

TEST_F(ConfigTest, ServiceUpstreamErrorsNameFileLineAndSuggestion) {
  auto f = Write("svc.hcl",
                 "service {\n  name = \"web\"\n  connect { sidecar_service { proxy {\n"
                 "    upstreams { destination_name = \"api\"\n      local_bind_prot = 1 }\n"
                 "  } } }\n}\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_FALSE(c.ok());
  const auto& m = c.status().message();
  EXPECT_NE(m.find("invalid config key \"service.connect."), std::string::npos) << m;
  EXPECT_NE(m.find("line 5 of " + f), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean \"local_bind_port\""), std::string::npos) << m;
}

TEST_F(ConfigTest, RepeatedBlocksMergeAndWeakValuesConvert) {
  auto f = Write("w.hcl", "ports { http = \"8600\" }\nports { dns = 8601 }\nserver = \"true\"\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->ports.http, 8600);
  EXPECT_EQ(c->ports.dns, 8601);
  EXPECT_TRUE(c->server);
}

TEST_F(ConfigTest, WrongTypeNamed) {
  auto f = Write("t.hcl", "server = \"maybe\"\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("server: expected true or false"), std::string::npos)
      << c.status().message();
}

TEST_F(ConfigTest, JsonWithCommentsAndServicesFromDir) {
  Write("10-base.json", "{\n  \"datacenter\": \"dc1\", # the DC\n  \"server\": true\n}\n");
  Write("20-svc.hcl", "service {\n  name = \"web\"\n  port = 80\n}\nservice {\n  name = \"api\"\n}\n");
  Write("ignored.txt", "garbage");
  auto c = LoadConfig({"-dev", "-config-dir", dir_.string()});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->services.size(), 2u);
  EXPECT_EQ(c->services[0].service.service, "web");
  ASSERT_FALSE(c->notes.empty());
  EXPECT_NE(c->notes[0].find("comments"), std::string::npos);
}

TEST_F(ConfigTest, DataDirRequiredOutsideDev) {
  auto c = LoadConfig({"-server"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("data_dir"), std::string::npos);
}

TEST_F(ConfigTest, UnknownFlag) {
  auto c = LoadConfig({"-dev", "-bogus"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind("flag provided but not defined: -bogus", 0), 0u);
}

TEST_F(ConfigTest, BadPortAndLevel) {
  EXPECT_FALSE(LoadConfig({"-dev", "-http-port=70000"}).ok());
  EXPECT_FALSE(LoadConfig({"-dev", "-log-level=loud"}).ok());
  EXPECT_FALSE(LoadConfig({"-dev", "-http-port=abc"}).ok());
}

TEST_F(ConfigTest, DefaultIntentionPolicyIsAllowOrDeny) {
  auto c = LoadConfig({"-dev"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->default_intention_policy, "");
  c = LoadConfig(
      {"-dev", "-config-file", Write("deny.hcl", "default_intention_policy = \"deny\"\n")});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->default_intention_policy, "deny");
  c = LoadConfig(
      {"-dev", "-config-file", Write("allow.json", R"({"default_intention_policy": "allow"})")});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->default_intention_policy, "allow");

  for (const char* bad : {"\"Deny\"", "\"\"", "\"closed\""}) {
    c = LoadConfig({"-dev", "-config-file",
                    Write("bad.hcl", std::string("default_intention_policy = ") + bad + "\n")});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("default_intention_policy"), std::string::npos);
    EXPECT_NE(c.status().message().find("expected allow or deny"), std::string::npos)
        << c.status().message();
  }
  // A misspelt key is refused by the schema with the nearest name.
  c = LoadConfig(
      {"-dev", "-config-file", Write("typo.hcl", "default_intention_polcy = \"deny\"\n")});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("did you mean \"default_intention_policy\""),
            std::string::npos)
      << c.status().message();
  // And a value of the wrong type by its type.
  EXPECT_FALSE(
      LoadConfig({"-dev", "-config-file", Write("num.hcl", "default_intention_policy = 1\n")})
          .ok());
}

TEST_F(ConfigTest, AclBlockWithConsulDefaults) {
  auto dev = LoadConfig({"-dev"});
  ASSERT_TRUE(dev.ok());
  EXPECT_FALSE(dev->acl.enabled);
  EXPECT_TRUE(dev->acl.default_allow);
  EXPECT_EQ(dev->acl.down_policy, acl::DownPolicy::kExtendCache);
  EXPECT_EQ(dev->acl.token_ttl, std::chrono::seconds(30));
  auto f = Write("acl.hcl", R"(
primary_datacenter = "dc9"
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "async-cache"
  token_ttl = "5s"
  enable_token_replication = true
  tokens {
    initial_management = "root-secret"
    agent = "agent-secret"
    default = "anon-secret"
    replication = "rep-secret"
  }
}
)");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->acl.enabled);
  EXPECT_FALSE(c->acl.default_allow);
  EXPECT_EQ(c->acl.down_policy, acl::DownPolicy::kAsyncCache);
  EXPECT_EQ(c->acl.token_ttl, std::chrono::seconds(5));
  EXPECT_TRUE(c->acl.enable_token_replication);
  EXPECT_EQ(c->acl.tokens.initial_management, "root-secret");
  EXPECT_EQ(c->acl.tokens.agent, "agent-secret");
  EXPECT_EQ(c->acl.tokens.default_token, "anon-secret");
  EXPECT_EQ(c->acl.tokens.replication, "rep-secret");
  EXPECT_EQ(c->primary_datacenter, "dc9");
  EXPECT_TRUE(c->warnings.empty());
}

TEST_F(ConfigTest, AclOlderNamesWarnAndBadValuesAreRefused) {
  auto f = Write("old.json", R"({"acl_datacenter": "dc1", "acl_default_policy": "deny",
    "acl_master_token": "m", "acl_agent_token": "a",
    "acl": {"tokens": {"agent_master": "r"}}})");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->acl.enabled);
  EXPECT_FALSE(c->acl.default_allow);
  EXPECT_EQ(c->acl.tokens.initial_management, "m");
  EXPECT_EQ(c->acl.tokens.agent, "a");
  EXPECT_EQ(c->acl.tokens.agent_recovery, "r");
  EXPECT_EQ(c->primary_datacenter, "dc1");
  std::string all;
  for (const auto& w : c->warnings) all += w + "\n";
  EXPECT_NE(all.find("The 'acl_master_token' field is deprecated. Use the "
                     "'acl.tokens.initial_management' field instead."),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("'acl.tokens.agent_master' field is deprecated"), std::string::npos) << all;

  auto bad = LoadConfig({"-dev", "-config-file", Write("bad.hcl", "acl { default_policy = \"maybe\" }")});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("acl.default_policy: invalid value \"maybe\""),
            std::string::npos)
      << bad.status().message();
  auto down = LoadConfig({"-dev", "-config-file", Write("d.hcl", "acl { down_policy = \"x\" }")});
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.status().message().find("extend-cache, async-cache, allow or deny"),
            std::string::npos);
  auto unknown = LoadConfig({"-dev", "-config-file", Write("u.hcl", "acl { tokenz { } }")});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("tokenz"), std::string::npos)
      << unknown.status().message();
}

TEST_F(ConfigTest, LegacyTlsKeysWarn) {
  auto f = Write("tls.hcl", "ca_file = \"ca.pem\"\ncert_file = \"c.pem\"\n");
  auto c = LoadConfig({"-dev", "-config-file", f});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tls_defaults.ca_file, "ca.pem");
  EXPECT_FALSE(c->warnings.empty());
}

TEST_F(ConfigTest, GossipTuningAndLeaveDefaults) {
  auto f = Write("g.hcl", R"(
data_dir = "/tmp/x"
gossip_lan {
  probe_interval = "500ms"
  probe_timeout = "200ms"
  suspicion_mult = 3
}
gossip_wan { gossip_nodes = 5 }
)");
  auto c = LoadConfig({"-config-file", f});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->gossip_lan.probe_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(c->gossip_lan.probe_timeout, std::chrono::milliseconds(200));
  EXPECT_EQ(c->gossip_lan.suspicion_mult, 3);
  EXPECT_EQ(c->gossip_lan.gossip_nodes, 0);
  EXPECT_EQ(c->gossip_wan.gossip_nodes, 5);
  // A client leaves on both signals; a server on neither.
  EXPECT_TRUE(c->leave_on_terminate);
  EXPECT_FALSE(c->skip_leave_on_interrupt);
  auto s = LoadConfig({"-config-file", f, "-server"});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->leave_on_terminate);
  EXPECT_TRUE(s->skip_leave_on_interrupt);

  auto bad = LoadConfig({"-config-file", Write("b.hcl", "data_dir = \"/x\"\ngossip_lan { probe_intervall = \"1s\" }\n")});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("probe_intervall"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("probe_interval"), std::string::npos) << bad.status().message();
  auto order = LoadConfig({"-config-file", Write("c.hcl", "data_dir = \"/x\"\ngossip_lan {\n  probe_interval = \"1s\"\n  probe_timeout = \"2s\"\n}\n")});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.status().message(), "gossip_lan.probe_timeout must be shorter than probe_interval");
}

}  // namespace
}  // namespace gangway::agent
