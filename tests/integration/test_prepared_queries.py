"""Prepared queries with real processes: two federated datacenters, each one server. A query
with NearestN = 1 answers from dc1 while dc1 has a healthy instance, fails over to dc2 when the
local instances go critical (Failovers 1, Datacenter dc2), and comes back; a template query
renders for the name asked and fails over through a Datacenters list (unknown ones skipped);
explain shows the rendered query; read and delete with Consul's texts."""

import unittest

from harness import wait_until
from test_connect_ca import DC


class PreparedQueryFailoverTest(unittest.TestCase):
    def setUp(self):
        self.dc1 = DC(self, "dc1")
        self.dc2 = DC(self, "dc2", primary="dc1", wan_join="127.0.0.1:%d" % self.dc1.wan)
        for srv in (self.dc1.server, self.dc2.server):
            wait_until(lambda srv=srv: sorted(srv.json("GET", "/v1/catalog/datacenters")[2] or [])
                       == ["dc1", "dc2"], timeout=60, msg="both datacenters in the WAN pool")
            wait_until(lambda srv=srv: srv.json("GET", "/v1/status/leader")[2], timeout=30,
                       msg="a leader")

    def ok(self, agent, method, path, body=None):
        st, _, v = agent.json(method, path, body)
        self.assertEqual(st, 200, "%s %s -> %d %r" % (method, path, st, v))
        return v

    def register(self, dc, status):
        self.ok(dc.server, "PUT", "/v1/agent/service/register",
                {"Name": "db", "ID": "db-" + dc.dc, "Port": 5432,
                 "Check": {"CheckID": "db-ttl", "TTL": "10m", "Status": status}})

    def set_status(self, dc, status):
        verb = {"passing": "pass", "critical": "fail"}[status]
        self.ok(dc.server, "PUT", "/v1/agent/check/%s/db-ttl" % verb)

    def execute(self, name="db-near"):
        return self.ok(self.dc1.server, "GET", "/v1/query/%s/execute" % name)

    def test_nearest_failover_and_back(self):
        self.register(self.dc1, "passing")
        self.register(self.dc2, "passing")
        qid = self.ok(self.dc1.server, "POST", "/v1/query",
                      {"Name": "db-near", "Service": {"Service": "db", "OnlyPassing": True,
                                                      "Failover": {"NearestN": 1}}})["ID"]
        # Both instances synced (dc2's is what the failover finds).
        wait_until(lambda: self.ok(self.dc2.server, "GET", "/v1/health/service/db?passing"),
                   timeout=30, msg="dc2's instance synced")
        wait_until(lambda: [n["Service"]["ID"] for n in self.execute()["Nodes"]] == ["db-dc1"],
                   timeout=30, msg="dc1's instance synced")
        r = self.execute()
        self.assertEqual((r["Datacenter"], r["Failovers"]), ("dc1", 0))
        self.assertEqual(r["Nodes"][0]["Service"]["ID"], "db-dc1")

        # dc1's only instance goes critical: the answer comes from dc2.
        self.set_status(self.dc1, "critical")
        wait_until(lambda: self.execute()["Datacenter"] == "dc2", timeout=30,
                   msg="failover to dc2")
        r = self.execute()
        self.assertEqual(r["Failovers"], 1)
        self.assertEqual([n["Service"]["ID"] for n in r["Nodes"]], ["db-dc2"])

        # dc2's goes too: nothing anywhere is an empty answer, not an error.
        self.set_status(self.dc2, "critical")
        wait_until(lambda: self.execute()["Nodes"] == [], timeout=30, msg="no instance left")
        self.assertEqual(self.execute()["Failovers"], 1)

        # dc1 recovers: the answer is local again. (An empty answer also names dc1, the
        # datacenter asked, so the wait is for dc1's instance itself.)
        self.set_status(self.dc1, "passing")
        wait_until(lambda: [n["Service"]["ID"] for n in self.execute()["Nodes"]] == ["db-dc1"],
                   timeout=30, msg="back to dc1")
        r = self.execute()
        self.assertEqual((r["Datacenter"], r["Failovers"]), ("dc1", 0))

        # Read and delete, with Consul's texts.
        got = self.ok(self.dc1.server, "GET", "/v1/query/" + qid)
        self.assertEqual(got[0]["Service"]["Failover"]["NearestN"], 1)
        self.ok(self.dc1.server, "DELETE", "/v1/query/" + qid)
        st, _, body = self.dc1.server.http("GET", "/v1/query/db-near/execute")
        self.assertEqual((st, body), (404, b"Query not found"))

    def test_datacenters_list_and_templates(self):
        self.register(self.dc2, "passing")
        self.ok(self.dc1.server, "POST", "/v1/query",
                {"Name": "svc-", "Template": {"Type": "name_prefix_match",
                                              "Regexp": "^svc-(.+)$"},
                 "Service": {"Service": "${match(1)}",
                             "Failover": {"Datacenters": ["nowhere", "dc2"]}}})
        explain = self.ok(self.dc1.server, "GET", "/v1/query/svc-db/explain")
        self.assertEqual(explain["Query"]["Service"]["Service"], "db")
        wait_until(lambda: self.execute("svc-db")["Nodes"], timeout=30, msg="dc2's instance")
        r = self.execute("svc-db")
        # The unknown datacenter is skipped, not counted.
        self.assertEqual((r["Datacenter"], r["Failovers"], r["Service"]), ("dc2", 1, "db"))
        # ?dc= asks the other datacenter's servers, which do not know this query.
        st, _, body = self.dc1.server.http("GET", "/v1/query/svc-db/execute?dc=dc2")
        # Queries live in the datacenter they were written to.
        self.assertEqual((st, body), (404, b"Query not found"))


if __name__ == "__main__":
    unittest.main()
