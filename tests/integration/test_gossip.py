"""Gossip between real agents: LAN joins inside a datacenter, WAN federation between two
datacenters' servers, and the views that read them (members, catalog datacenters, status)."""

import re
import unittest

from harness import Agent, unique_node, wait_until

SERF_RE = re.compile(r"agent\.server\.serf\.(lan|wan): serf: started gossip: address=(\S+)")


def gossip_addr(agent, which):
    def find():
        for m in SERF_RE.finditer(agent.output()):
            if m.group(1) == which:
                return m.group(2)
        return None
    return wait_until(find, timeout=10, msg="%s gossip address in the agent log" % which)


class GossipTest(unittest.TestCase):
    def start(self, *args):
        a = Agent(node=unique_node("g"))
        self.addCleanup(a.stop)
        a.start(list(args))
        return a

    def members(self, agent, wan=False):
        status, _, body = agent.http("GET", "/v1/agent/members" + ("?wan=1" if wan else ""))
        self.assertEqual(status, 200, body)
        import json
        return {m["Name"]: m for m in json.loads(body)}

    def test_wan_federation_two_datacenters(self):
        dc1 = self.start()
        dc2 = self.start("-datacenter", "dc2", "-retry-join-wan", gossip_addr(dc1, "wan"),
                         "-retry-interval-wan", "1s")
        n1 = dc1.node + ".dc1"
        n2 = dc2.node + ".dc2"
        wait_until(lambda: set(self.members(dc1, wan=True)) >= {n1, n2}, timeout=10,
                   msg="dc1 lists both servers in the WAN pool")
        wan2 = wait_until(lambda: self.members(dc2, wan=True) if set(self.members(dc2, wan=True)) >= {n1, n2} else None,
                          timeout=10)
        self.assertEqual(wan2[n1]["Status"], 1)
        self.assertEqual(wan2[n1]["Tags"]["dc"], "dc1")
        self.assertEqual(wan2[n1]["Tags"]["role"], "consul")
        # LAN pools stay per datacenter.
        self.assertEqual(set(self.members(dc1)), {dc1.node})

        cp = dc2.cli("members", "-wan")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn(n1, cp.stdout)
        self.assertIn(n2, cp.stdout)
        cp = dc1.cli("catalog", "datacenters")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.split(), ["dc1", "dc2"])
        cp = dc2.cli("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"Joined WAN:\s+dc1, dc2")

    def test_lan_join_and_leave(self):
        a = self.start()
        b = self.start()
        status, _, body = b.http("PUT", "/v1/agent/join/" + gossip_addr(a, "lan"))
        self.assertEqual(status, 200, body)
        wait_until(lambda: set(self.members(a)) == {a.node, b.node}, timeout=10,
                   msg="a lists both LAN members")
        cp = b.cli("leave")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        wait_until(lambda: self.members(a).get(b.node, {}).get("Status") == 3, timeout=15,
                   msg="a lists b as left (3)")

    def test_join_unreachable_fails_cleanly(self):
        a = self.start()
        status, _, body = a.http("PUT", "/v1/agent/join/127.0.0.1:1")
        self.assertEqual(status, 500, body)
        self.assertIn(b"127.0.0.1:1", body)
        status, _, _ = a.http("GET", "/v1/status/leader")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
