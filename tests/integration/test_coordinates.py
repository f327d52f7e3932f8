"""Network coordinates with real agents on loopback: one server (-dev) and two client agents.
Every agent learns its Vivaldi coordinate from gossip probes and reports it to the server
(sync_coordinate_interval_min 1s here, so reports come every 1-2 s); the server batches them
into the store. Checked: every node appears in /v1/coordinate/nodes, the RTT estimated from each
pair's coordinates (as Consul computes it) is a few ms at most on loopback, ?near=_agent puts the
answering agent's node first, `gangway rtt` prints Consul's line, and bad updates get a 400."""

import json
import math
import re
import shutil
import tempfile
import unittest

from harness import Agent, unique_node, wait_until, write_file
from test_gossip import gossip_addr

# Loopback RTTs are tens of microseconds; the estimates must stay near zero.
MAX_LOOPBACK_RTT = 0.005


def distance(a, b):
    """Consul's (serf's) Coordinate.DistanceTo, in seconds."""
    d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["Vec"], b["Vec"]))) + a["Height"] + b["Height"]
    adjusted = d + a["Adjustment"] + b["Adjustment"]
    return adjusted if adjusted > 0 else d


class CoordinatesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gangway-coords-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        cfg = write_file(self.tmp, "coord.hcl", 'sync_coordinate_interval_min = "1s"\n')
        self.server = Agent(node=unique_node("srv"))
        self.addCleanup(self.server.stop)
        self.server.start([], cfg)
        join = gossip_addr(self.server, "lan")
        self.clients = []
        for _ in range(2):
            c = Agent(node=unique_node("cli"), dev=False)
            self.addCleanup(c.stop)
            c.start(["-retry-join", join, "-retry-interval", "1s"], cfg)
            self.clients.append(c)
        self.agents = [self.server] + self.clients
        self.nodes = [a.node for a in self.agents]

    def coordinates(self, agent):
        st, _, v = agent.json("GET", "/v1/coordinate/nodes")
        self.assertEqual(st, 200)
        return {row["Node"]: row["Coord"] for row in v if row["Segment"] == ""}

    def test_coordinates_rtt_and_near(self):
        # Each agent must be probed by and probe the others, then report, then be batched.
        coords = wait_until(
            lambda: (lambda c: c if all(n in c for n in self.nodes) else None)(
                self.coordinates(self.server)),
            timeout=90, interval=0.5, msg="a coordinate for every node in /v1/coordinate/nodes")
        for n in self.nodes:
            self.assertEqual(len(coords[n]["Vec"]), 8, n)
        # The same through a client agent (forwarded to the server).
        self.assertEqual(set(self.coordinates(self.clients[0])) >= set(self.nodes), True)

        # The origin is where every agent starts; wait until each has moved (learned from a
        # probe), then every pairwise estimate is near zero.
        wait_until(lambda: all(any(x != 0 for x in c["Vec"]) or c["Error"] < 1.5
                               for c in [self.coordinates(self.server)[n] for n in self.nodes]),
                   timeout=90, interval=0.5, msg="every coordinate updated from probes")
        coords = self.coordinates(self.server)
        for i, a in enumerate(self.nodes):
            for b in self.nodes[i + 1:]:
                rtt = distance(coords[a], coords[b])
                self.assertGreaterEqual(rtt, 0, (a, b))
                self.assertLess(rtt, MAX_LOOPBACK_RTT, "estimated %s <-> %s: %.6f s" % (a, b, rtt))

        st, _, v = self.server.json("GET", "/v1/coordinate/node/" + self.clients[1].node)
        self.assertEqual(st, 200)
        self.assertEqual([row["Node"] for row in v], [self.clients[1].node])
        self.assertEqual(set(v[0]["Coord"]), {"Vec", "Error", "Adjustment", "Height"})
        st, _, body = self.server.http("GET", "/v1/coordinate/node/no-such-node")
        self.assertEqual((st, body), (404, b""))

        # The agent's own LAN coordinate in /v1/agent/self, as Consul's "Coord".
        st, _, v = self.clients[0].json("GET", "/v1/agent/self")
        self.assertEqual(st, 200)
        self.assertEqual(len(v["Coord"]["Vec"]), 8)
        self.assertEqual(v["Stats"]["serf_lan"]["coordinate_resets"], "0")

        # ?near=_agent: the answering agent's own node first (a client's request is forwarded
        # with the name resolved where it arrived).
        for agent in (self.clients[1], self.server):
            st, _, v = agent.json("GET", "/v1/catalog/nodes?near=_agent")
            self.assertEqual(st, 200)
            self.assertEqual(v[0]["Node"], agent.node, [n["Node"] for n in v])
            self.assertEqual(sorted(n["Node"] for n in v), sorted(self.nodes))
        st, _, v = self.clients[0].json("GET", "/v1/health/service/consul?near=_agent")
        self.assertEqual(st, 200)
        self.assertEqual([row["Node"]["Node"] for row in v], [self.server.node])
        st, _, v = self.server.json("GET", "/v1/health/service/consul?near=_agent")
        self.assertEqual(v[0]["Node"]["Node"], self.server.node)

        # A prepared query stored with Near "_agent" sorts near the agent that was asked, also
        # when it is a client agent whose request a server executes.
        for agent in self.agents:
            st, _, text = agent.http("PUT", "/v1/agent/service/register",
                                     {"Name": "near-svc", "Port": 7000})
            self.assertEqual(st, 200, text)
        wait_until(lambda: len(self.server.get("/v1/catalog/service/near-svc")) == 3, timeout=30,
                   msg="every agent's near-svc instance in the catalog")
        st, _, text = self.server.json("POST", "/v1/query",
                                       {"Name": "nearest", "Service": {"Service": "near-svc",
                                                                       "Near": "_agent"}})
        self.assertEqual(st, 200, text)
        for agent in self.agents:
            for _ in range(5):  # the shuffle before the sort must not decide
                st, _, v = agent.json("GET", "/v1/query/nearest/execute")
                self.assertEqual(st, 200, v)
                self.assertEqual(v["Nodes"][0]["Node"]["Node"], agent.node,
                                 [row["Node"]["Node"] for row in v["Nodes"]])

        # gangway rtt: between two named nodes, and from one to the local agent.
        a, b = self.clients[0].node, self.clients[1].node
        cp = self.clients[0].cli("rtt", a, b)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        m = re.fullmatch(r"Estimated %s <-> %s rtt: (\d+\.\d{3}) ms \(using LAN coordinates\)\n"
                         % (re.escape(a), re.escape(b)), cp.stdout)
        self.assertIsNotNone(m, cp.stdout)
        self.assertLess(float(m.group(1)), MAX_LOOPBACK_RTT * 1000)
        cp = self.clients[0].cli("rtt", self.server.node)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(cp.stdout.startswith("Estimated %s <-> %s rtt: " % (self.server.node, a)),
                        cp.stdout)
        cp = self.clients[0].cli("rtt", "no-such-node", a)
        self.assertEqual(cp.returncode, 1)
        self.assertIn('Could not find a coordinate for node "no-such-node"', cp.stderr)
        cp = self.clients[0].cli("rtt")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("One or two node names must be specified", cp.stderr)

        # WAN: the server's own coordinate in its datacenter.
        st, _, v = self.server.json("GET", "/v1/coordinate/datacenters")
        self.assertEqual(st, 200)
        self.assertEqual([d["Datacenter"] for d in v], ["dc1"])
        self.assertEqual(v[0]["AreaID"], "wan")
        self.assertEqual([c["Node"] for c in v[0]["Coordinates"]], [self.server.node])

    def test_bad_update_is_a_400_naming_the_field(self):
        st, _, body = self.clients[0].http("PUT", "/v1/coordinate/update",
                                           {"Node": self.clients[0].node, "Coord": {"Vec": "x"}})
        self.assertEqual(st, 400)
        self.assertEqual(body, b"Request decode failed: Coord.Vec: expected a list of numbers")


class WanCoordinatesTest(unittest.TestCase):
    """Two -dev datacenters federated over the WAN pool: each server learns the other's WAN
    coordinate from WAN probes (no Raft involved)."""

    def test_datacenters_and_rtt_wan(self):
        dc1 = Agent(node=unique_node("w1"))
        self.addCleanup(dc1.stop)
        dc1.start([])
        dc2 = Agent(node=unique_node("w2"))
        self.addCleanup(dc2.stop)
        dc2.start(["-datacenter", "dc2", "-retry-join-wan", gossip_addr(dc1, "wan"),
                   "-retry-interval-wan", "1s"])

        def both():
            st, _, v = dc1.json("GET", "/v1/coordinate/datacenters")
            if st != 200:
                return None
            got = {d["Datacenter"]: [c["Node"] for c in d["Coordinates"]] for d in v}
            return v if got == {"dc1": [dc1.node], "dc2": [dc2.node]} else None

        # WAN probes run every 5 s: allow several rounds on a busy machine.
        v = wait_until(both, timeout=90, interval=0.5,
                       msg="dc1 lists both datacenters' servers with WAN coordinates")
        self.assertEqual([d["AreaID"] for d in v], ["wan", "wan"])
        coords = {d["Datacenter"]: d["Coordinates"][0]["Coord"] for d in v}
        self.assertLess(distance(coords["dc1"], coords["dc2"]), MAX_LOOPBACK_RTT)

        a, b = dc1.node + ".dc1", dc2.node + ".dc2"
        cp = dc1.cli("rtt", "-wan", a, b)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^Estimated %s <-> %s rtt: \d+\.\d{3} ms \(using WAN "
                                    r"coordinates\)\n$" % (re.escape(a), re.escape(b)))
        cp = dc1.cli("rtt", "-wan", dc1.node, b)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Node names must be specified as <node name>.<datacenter> with -wan",
                      cp.stderr)
        # Ours first, then the other datacenter.
        self.assertEqual(dc1.get("/v1/catalog/datacenters"), ["dc1", "dc2"])
        self.assertEqual(dc2.get("/v1/catalog/datacenters"), ["dc2", "dc1"])


class DisabledTest(unittest.TestCase):
    def test_disable_coordinates(self):
        tmp = tempfile.mkdtemp(prefix="gangway-coords-off-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a = Agent(node=unique_node("off"))
        self.addCleanup(a.stop)
        a.start([], write_file(tmp, "off.hcl", "disable_coordinates = true\n"))
        for path in ("/v1/coordinate/nodes", "/v1/coordinate/datacenters",
                     "/v1/coordinate/node/" + a.node):
            st, _, body = a.http("GET", path)
            self.assertEqual((st, body), (401, b"Coordinate support disabled"), path)
        st, _, v = a.json("GET", "/v1/agent/self")
        self.assertIsNone(v["Coord"])
        # ?near= sorts nothing but still answers.
        st, _, v = a.json("GET", "/v1/catalog/nodes?near=_agent")
        self.assertEqual((st, [n["Node"] for n in v]), (200, [a.node]))


if __name__ == "__main__":
    unittest.main()
