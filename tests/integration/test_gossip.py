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

    def start_client(self, *args):
        a = Agent(node=unique_node("c"), dev=False)
        self.addCleanup(a.stop)
        a.start(list(args))
        return a

    def serf_health(self, server, node):
        status, _, body = server.http("GET", "/v1/health/node/" + node)
        self.assertEqual(status, 200, body)
        import json
        for c in json.loads(body):
            if c["CheckID"] == "serfHealth":
                return c
        return None

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
        self.assertRegex(cp.stdout, r"LAN:\s+1 member: 1 alive \(1 server, 0 clients\)")
        self.assertIn("  dc1: 1 server, 1 alive", cp.stdout)
        cp = dc2.cli("status", "-format=json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        import json
        st = json.loads(cp.stdout)
        self.assertEqual(st["Datacenter"], "dc2")
        self.assertEqual(st["Role"], "server")
        self.assertEqual(st["JoinedWAN"], ["dc1", "dc2"])
        self.assertEqual(st["WAN"]["dc1"]["Alive"], 1)
        self.assertEqual(st["LAN"]["Members"], 1)
        cp = dc2.cli("status", "-format=yaml")
        self.assertEqual(cp.returncode, 1)
        self.assertIn('Invalid format: yaml', cp.stderr)

    def test_lan_join_and_leave(self):
        a = self.start()
        b = self.start()
        cp = b.cli("join", gossip_addr(a, "lan"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout, "Successfully joined cluster by contacting 1 nodes.\n")
        wait_until(lambda: set(self.members(a)) == {a.node, b.node}, timeout=10,
                   msg="a lists both LAN members")
        cp = b.cli("leave")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        wait_until(lambda: self.members(a).get(b.node, {}).get("Status") == 3, timeout=15,
                   msg="a lists b as left (3)")

    def test_lan_join_to_another_datacenter_is_refused(self):
        dc1 = self.start()
        dc2 = self.start("-datacenter", "dc2")
        cp = dc1.cli("join", gossip_addr(dc2, "lan"))
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertIn("Member '%s' part of wrong datacenter 'dc2'" % dc2.node, cp.stderr)
        self.assertIn("Failed to join any nodes.", cp.stderr)
        # Nothing leaked into either LAN pool, and both keep serving.
        self.assertEqual(set(self.members(dc1)), {dc1.node})
        self.assertEqual(set(self.members(dc2)), {dc2.node})

    def test_retry_join_naming_another_dc_server_joins_over_wan(self):
        dc2 = self.start("-datacenter", "dc2")
        dc1a = self.start()
        # The tutorial's form: one list with this datacenter's server and the other's.
        dc1b = self.start("-retry-join", gossip_addr(dc1a, "lan"), "-retry-join", gossip_addr(dc2, "lan"),
                          "-retry-interval", "1s")
        wan_addr = gossip_addr(dc2, "wan")
        note = wait_until(lambda: re.search(r"note: retry_join \"%s\" names server '%s' of datacenter "
                                            r"'dc2'; joining it over the WAN at %s instead\. The canonical "
                                            r"form is retry_join_wan = \[\"%s\"\]" % (
                                                re.escape(gossip_addr(dc2, "lan")), dc2.node,
                                                re.escape(wan_addr), re.escape(wan_addr)),
                                            dc1b.stderr_text()),
                          timeout=10, msg="the note naming retry_join_wan")
        self.assertIsNotNone(note)
        wait_until(lambda: {dc1b.node + ".dc1", dc2.node + ".dc2"} <= set(self.members(dc1b, wan=True)),
                   timeout=10, msg="dc1b joined dc2 over the WAN")
        wait_until(lambda: set(self.members(dc1b)) == {dc1a.node, dc1b.node}, timeout=10,
                   msg="the LAN pool has dc1's agents only")
        cp = dc1b.cli("catalog", "datacenters")
        self.assertEqual(cp.stdout.split(), ["dc1", "dc2"], cp.stderr)

    def test_client_retry_join_to_another_dc_is_a_clear_error(self):
        server = self.start()
        dc2 = self.start("-datacenter", "dc2")
        client = self.start_client("-retry-join", gossip_addr(server, "lan"),
                                   "-retry-join", gossip_addr(dc2, "lan"), "-retry-interval", "1s")
        wait_until(lambda: "error: retry_join \"%s\" is agent '%s' of datacenter 'dc2', but this agent "
                   "is a client of datacenter 'dc1'" % (gossip_addr(dc2, "lan"), dc2.node)
                   in client.stderr_text(), timeout=10, msg="the client's error\n" + client.output())
        self.assertIn("retry_join_wan", client.stderr_text())
        wait_until(lambda: set(self.members(client)) == {server.node, client.node}, timeout=10)
        self.assertTrue(client.running())

    def test_serf_health_follows_lan_membership(self):
        server = self.start()
        c1 = self.start_client("-retry-join", gossip_addr(server, "lan"), "-retry-interval", "1s")
        c2 = self.start_client("-retry-join", gossip_addr(server, "lan"), "-retry-interval", "1s")
        for c in (c1, c2):
            check = wait_until(lambda: self.serf_health(server, c.node), timeout=10,
                               msg="serfHealth for " + c.node)
            self.assertEqual(check["Status"], "passing")
            self.assertEqual(check["Output"], "Agent alive and reachable")
        # A client killed without a goodbye turns critical once gossip declares it failed.
        c1.proc.kill()
        check = wait_until(lambda: (lambda ch: ch if ch and ch["Status"] == "critical" else None)(
            self.serf_health(server, c1.node)), timeout=30, msg="serfHealth critical after kill -9")
        self.assertEqual(check["Output"], "Agent not live or unreachable")
        cp = server.cli("members", "-status=failed")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual([l.split()[0] for l in cp.stdout.splitlines()[1:]], [c1.node])
        cp = server.cli("members", "-status=^leaving$")
        self.assertEqual((cp.returncode, cp.stdout), (2, ""))
        cp = server.cli("members", "-detailed")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"%s\s+127\.0\.0\.1:\d+\s+alive\s+.*role=node" % re.escape(c2.node))
        cp = server.cli("members", "-status=(")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Failed to compile status regexp", cp.stderr)
        status, _, body = server.http("GET", "/v1/health/state/critical")
        self.assertIn(c1.node.encode(), body)
        # A client interrupted leaves gracefully: its node leaves the catalog.
        c2.stop()
        def gone():
            status, _, body = server.http("GET", "/v1/catalog/node/" + c2.node)
            return status == 404 or body.strip() == b"null"
        wait_until(gone, timeout=15, msg="c2 deregistered after its leave")
        self.assertEqual(self.members(server)[c2.node]["Status"], 3)

    def test_client_forwards_to_servers_and_other_datacenters(self):
        import json
        dc2 = self.start("-datacenter", "dc2")
        server = self.start("-retry-join-wan", gossip_addr(dc2, "wan"), "-retry-interval-wan", "1s")
        client = self.start_client("-retry-join", gossip_addr(server, "lan"), "-retry-interval", "1s")
        wait_until(lambda: set(self.members(client)) == {server.node, client.node}, timeout=10)
        # Writes through the client land on the server; reads through the client see them.
        cp = client.cli("kv", "put", "cfg/mode", "blue")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = server.cli("kv", "get", "cfg/mode")
        self.assertEqual(cp.stdout, "blue\n", cp.stderr)
        status, _, body = client.http("PUT", "/v1/agent/service/register",
                                      json.dumps({"Name": "web", "Port": 8080}).encode())
        self.assertEqual(status, 200, body)
        wait_until(lambda: server.json("GET", "/v1/catalog/service/web")[2], timeout=10,
                   msg="the client's service reached the server's catalog")
        nodes = [n["Node"] for n in client.json("GET", "/v1/catalog/service/web")[2]]
        self.assertEqual(nodes, [client.node])
        # ?dc= from a client: client -> its server -> dc2's server.
        wait_until(lambda: "dc2" in (client.json("GET", "/v1/catalog/datacenters")[2] or []), timeout=10)
        cp = client.cli("catalog", "nodes", "-dc", "dc2")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn(dc2.node, cp.stdout)
        self.assertNotIn(server.node, cp.stdout)
        status, _, body = client.http("GET", "/v1/catalog/services?dc=dc9")
        self.assertEqual((status, body), (500, b"No path to datacenter"))
        # A blocking query through the client wakes on a write made on the server.
        status, headers, _ = client.http("GET", "/v1/kv/cfg/mode")
        index = headers["X-Consul-Index"]
        import threading, time
        woke = {}
        def block():
            t0 = time.monotonic()
            st, _, b = client.http("GET", "/v1/kv/cfg/mode?raw&index=%s&wait=20s" % index)
            woke["after"] = time.monotonic() - t0
            woke["body"] = b
        th = threading.Thread(target=block)
        th.start()
        time.sleep(0.5)
        cp = server.cli("kv", "put", "cfg/mode", "green")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        th.join(25)
        self.assertEqual(woke.get("body"), b"green")
        self.assertLess(woke["after"], 10)

    def test_client_without_servers_says_so(self):
        client = self.start_client()
        status, _, body = client.http("GET", "/v1/catalog/services")
        self.assertEqual((status, body), (500, b"No known Consul servers"))
        cp = client.cli("kv", "put", "k", "v")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("No known Consul servers", cp.stderr)

    def test_join_unreachable_fails_cleanly(self):
        a = self.start()
        status, _, body = a.http("PUT", "/v1/agent/join/127.0.0.1:1")
        self.assertEqual(status, 500, body)
        self.assertIn(b"127.0.0.1:1", body)
        status, _, _ = a.http("GET", "/v1/status/leader")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
