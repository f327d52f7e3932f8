"""Details Consul's clients depend on (reference: consul-api-more.md §7), against a dev agent:
request bodies decoded as Go's encoding/json does in Consul's strict mode, the empty KV key,
/v1/agent/self's Stats and Member, and where X-Consul-Index is sent (and where not)."""

import unittest

from harness import Agent, wait_until


class CompatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def test_json_keys_match_case_insensitively_and_unknown_ones_are_refused(self):
        a = self.agent
        status, _, body = a.http("PUT", "/v1/catalog/register",
                                 {"node": "lower", "ADDRESS": "10.9.9.9", "nodemeta": {"k": "v"},
                                  "service": {"service": "lc", "port": 81, "tags": ["x"]}})
        self.assertEqual((status, body), (200, b"true"))
        node = a.get("/v1/catalog/node/lower")
        self.assertEqual(node["Node"]["Address"], "10.9.9.9")
        self.assertEqual(node["Node"]["Meta"], {"k": "v"})
        self.assertEqual(node["Services"]["lc"]["Port"], 81)
        status, _, body = a.http("PUT", "/v1/catalog/register", {"Node": "x", "Adress": "1.2.3.4"})
        self.assertEqual((status, body.decode()),
                         (400, 'Request decode failed: json: unknown field "Adress"'))
        self.assertIsNone(a.json("GET", "/v1/catalog/node/x")[2])
        status, _, body = a.http("PUT", "/v1/catalog/deregister", {"node": "lower"})
        self.assertEqual((status, body), (200, b"true"))
        self.assertIsNone(a.json("GET", "/v1/catalog/node/lower")[2])
        status, _, body = a.http("PUT", "/v1/catalog/deregister", {"Node": "x", "Service": "y"})
        self.assertEqual((status, body.decode()),
                         (400, 'Request decode failed: json: unknown field "Service"'))
        # Service definitions through the agent: case-insensitive too.
        status, _, _ = a.http("PUT", "/v1/agent/service/register",
                              {"name": "web", "port": 80, "address": "10.0.0.5",
                               "check": {"ttl": "30s"}})
        self.assertEqual(status, 200)
        self.assertEqual(a.get("/v1/agent/services")["web"]["Address"], "10.0.0.5")
        check = [c for c in a.get("/v1/agent/checks").values() if c["ServiceID"] == "web"][0]
        status, _, _ = a.http("PUT", "/v1/agent/check/update/" + check["CheckID"],
                              {"status": "passing", "output": "fine"})
        self.assertEqual(status, 200)
        c = a.get("/v1/agent/checks")[check["CheckID"]]
        self.assertEqual((c["Status"], c["Output"]), ("passing", "fine"))
        status, _, body = a.http("PUT", "/v1/agent/check/update/" + check["CheckID"],
                                 {"Status": "passing", "Note": "x"})
        self.assertEqual((status, body.decode()),
                         (400, 'Request decode failed: json: unknown field "Note"'))

    def test_empty_kv_key(self):
        a = self.agent
        for method in ("GET", "PUT", "DELETE"):
            status, headers, body = a.http(method, "/v1/kv/", b"v" if method == "PUT" else None)
            self.assertEqual((status, body.decode()), (400, "Missing key name"), method)
        status, headers, body = a.http("GET", "/v1/kv/?keys")
        self.assertEqual(status, 200)
        self.assertIn("X-Consul-Index", headers)
        a.put("/v1/kv/compat/a", b"1")
        status, headers, body = a.http("GET", "/v1/kv/compat/a?raw")
        self.assertEqual((status, body), (200, b"1"))
        self.assertEqual(headers.get("Content-Security-Policy"), "sandbox")
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        self.assertIn("compat/a", a.get("/v1/kv/?keys"))
        self.assertEqual(a.get("/v1/kv/compat/?keys&seperator=/"), ["compat/a"])

    def test_agent_self_stats_and_member(self):
        a = self.agent
        self_ = a.get("/v1/agent/self")
        members = a.get("/v1/agent/members")
        me = [m for m in members if m["Name"] == self_["Config"]["NodeName"]]
        self.assertEqual(me, [self_["Member"]])
        stats = self_["Stats"]
        for section in ("agent", "build", "consul", "raft", "runtime", "serf_lan", "serf_wan"):
            self.assertIn(section, stats)
            for k, v in stats[section].items():
                self.assertIsInstance(v, str, "%s.%s" % (section, k))
        consul = stats["consul"]
        self.assertEqual((consul["server"], consul["leader"], consul["acl"]), ("true", "true", "disabled"))
        self.assertTrue(consul["leader_addr"].startswith("127.0.0.1:"), consul)
        self.assertEqual(stats["serf_lan"]["members"], "1")
        self.assertEqual(stats["raft"]["state"], "Leader")

    def test_x_consul_index_where_consul_sends_it(self):
        a = self.agent
        a.put("/v1/kv/idx/k", b"v")
        with_index = ["/v1/catalog/nodes", "/v1/catalog/services", "/v1/catalog/service/consul",
                      "/v1/catalog/node/" + a.node, "/v1/health/service/consul",
                      "/v1/health/node/" + a.node, "/v1/health/checks/consul",
                      "/v1/health/state/any", "/v1/kv/idx/k", "/v1/kv/idx/missing",
                      "/v1/kv/idx/?recurse", "/v1/kv/idx/?keys", "/v1/config/proxy-defaults",
                      "/v1/connect/intentions", "/v1/discovery-chain/web", "/v1/event/list",
                      "/v1/agent/connect/ca/roots"]
        wait_until(lambda: a.json("GET", "/v1/connect/ca/roots")[0] == 200, timeout=15)
        with_index.append("/v1/connect/ca/roots")
        for path in with_index:
            status, headers, _ = a.http("GET", path)
            self.assertIn(status, (200, 404), path)
            self.assertIn("X-Consul-Index", headers, path)
            self.assertGreaterEqual(int(headers["X-Consul-Index"]), 1, path)
            self.assertIn("X-Consul-KnownLeader", headers, path)
            self.assertIn("X-Consul-LastContact", headers, path)
        for method, path, body in (("GET", "/v1/agent/self", None),
                                   ("GET", "/v1/agent/services", None),
                                   ("GET", "/v1/status/leader", None),
                                   ("GET", "/v1/catalog/datacenters", None),
                                   ("PUT", "/v1/kv/idx/w", b"x")):
            status, headers, _ = a.http(method, path, body)
            self.assertEqual(status, 200, path)
            self.assertNotIn("X-Consul-Index", headers, path)


if __name__ == "__main__":
    unittest.main()
