"""Gossip keyring rotation and user events between real agents.

Three agents share one LAN pool and one WAN pool, encrypted with `encrypt`. The keyring tests
rotate the key with the CLI and check every pool's counts and that the agents still gossip; the
event tests fire events on one agent and read them on the others. Bad input must give clear
errors and leave the agents serving.
"""

import base64
import json
import os
import re
import threading
import time
import unittest

from harness import Agent, unique_node, wait_until
from test_gossip import gossip_addr

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_key(n=32):
    return base64.b64encode(os.urandom(n)).decode()


class Cluster:
    def __init__(self, key):
        self.key = key
        self.agents = []

    def start(self, key=None, join=None, wan=True):
        a = Agent(node=unique_node("k"))
        args = ["-encrypt", key or self.key]
        if join is not None:
            args += ["-retry-join", gossip_addr(join, "lan"), "-retry-interval", "1s"]
        if join is not None and wan:
            args += ["-retry-join-wan", gossip_addr(join, "wan"), "-retry-interval-wan", "1s"]
        a.start(args)
        self.agents.append(a)
        return a

    def stop(self):
        for a in self.agents:
            a.stop()


def members(agent, wan=False):
    status, _, body = agent.http("GET", "/v1/agent/members" + ("?wan=1" if wan else ""))
    if status != 200:
        raise AssertionError("members -> %d: %r" % (status, body))
    return {m["Name"]: m["Status"] for m in json.loads(body)}


def events(agent, name="deploy"):
    return agent.get("/v1/event/list?name=" + name)


class KeyringAndEventsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(new_key())
        try:
            cls.a = cls.cluster.start()
            cls.b = cls.cluster.start(join=cls.a)
            cls.c = cls.cluster.start(join=cls.a)
            cls.all = [cls.a, cls.b, cls.c]
            for x in cls.all:
                wait_until(lambda: list(members(x).values()) == [1, 1, 1], timeout=20,
                           msg="%s sees 3 alive LAN members" % x.node)
                wait_until(lambda: list(members(x, wan=True).values()) == [1, 1, 1], timeout=20,
                           msg="%s sees 3 alive WAN members" % x.node)
        except Exception:
            cls.cluster.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def cli_ok(self, agent, *args):
        cp = agent.cli(*args)
        self.assertEqual(cp.returncode, 0, "gangway %s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(args), cp.stdout, cp.stderr))
        return cp

    def keyring(self, agent):
        """The agent's keyring listing as {pool name: (keys, primary keys, nodes)}."""
        status, _, body = agent.json("GET", "/v1/operator/keyring")
        self.assertEqual(status, 200, body)
        return {("WAN" if p["WAN"] else p["Datacenter"] + " (LAN)"): (p["Keys"], p["PrimaryKeys"], p["NumNodes"])
                for p in body}

    def primary(self):
        _, primary, _ = self.keyring(self.a)["dc1 (LAN)"]
        self.assertEqual(len(primary), 1, primary)
        return next(iter(primary))

    def fire_and_wait(self, sender, receivers, name, *payload):
        cp = self.cli_ok(sender, "event", "-name=" + name, *payload)
        m = re.fullmatch(r"Event ID: (\S+)\n", cp.stdout)
        self.assertIsNotNone(m, cp.stdout)
        eid = m.group(1)
        self.assertRegex(eid, UUID_RE)
        for r in receivers:
            wait_until(lambda: any(e["ID"] == eid for e in events(r, name)), timeout=15,
                       msg="event %s reaches %s" % (eid, r.node))
        return eid

    # ---- keyring -------------------------------------------------------------------------------

    def test_key_rotation_keeps_the_cluster_gossiping(self):
        old = self.primary()
        new = new_key()
        cp = self.cli_ok(self.a, "keyring", "-list")
        self.assertTrue(cp.stdout.startswith("==> Gathering installed encryption keys...\n\nWAN:\n"), cp.stdout)
        self.assertEqual(cp.stdout.count("  %s [3/3]\n" % old), 2, cp.stdout)
        self.assertIn("\ndc1 (LAN):\n", cp.stdout)

        cp = self.cli_ok(self.a, "keyring", "-install=" + new)
        self.assertEqual(cp.stdout, "==> Installing new gossip encryption key...\n")
        for x in self.all:
            for pool, (keys, primary, n) in self.keyring(x).items():
                self.assertEqual((keys, primary, n), ({old: 3, new: 3}, {old: 3}, 3), (x.node, pool))

        cp = self.cli_ok(self.b, "keyring", "-use=" + new)
        self.assertEqual(cp.stdout, "==> Changing primary gossip encryption key...\n")
        cp = self.cli_ok(self.c, "keyring", "-list-primary")
        self.assertEqual(cp.stdout.count("  %s [3/3]\n" % new), 2, cp.stdout)
        self.assertNotIn(old, cp.stdout)

        cp = self.cli_ok(self.a, "keyring", "-remove=" + old)
        self.assertEqual(cp.stdout, "==> Removing gossip encryption key...\n")
        for x in self.all:
            for pool, (keys, primary, n) in self.keyring(x).items():
                self.assertEqual((keys, primary, n), ({new: 3}, {new: 3}, 3), (x.node, pool))
        cp = self.cli_ok(self.a, "keyring", "-list")
        self.assertEqual(cp.stdout.count("  %s [3/3]\n" % new), 2, cp.stdout)
        self.assertNotIn(old, cp.stdout)

        # Still one cluster: members alive, events delivered, and a newcomer holding only the
        # new key joins while one holding only the old key cannot.
        time.sleep(2)
        for x in self.all:
            self.assertEqual(set(members(x).values()), {1}, members(x))
        self.fire_and_wait(self.c, [self.a, self.b], "after-rotation", "still-here")
        d = self.cluster.start(key=new, join=self.a, wan=False)
        stale = self.cluster.start(key=old, join=self.a, wan=False)
        wait_until(lambda: members(self.a).get(d.node) == 1, timeout=20, msg="a sees the newcomer alive")
        time.sleep(2)
        self.assertNotIn(stale.node, members(self.a))
        self.assertEqual(list(members(stale)), [stale.node])
        # Leave the cluster as we found it: Serf counts left members in keyring answers until
        # they are reaped, so prune the newcomer.
        for extra in (d, stale):
            extra.stop()
            self.cluster.agents.remove(extra)
        status, _, body = self.a.http("PUT", "/v1/agent/force-leave/%s?prune=1" % d.node)
        self.assertEqual(status, 200, body)
        # Servers flood-join their datacenter's servers on the WAN, so it is there too.
        status, _, body = self.a.http("PUT", "/v1/agent/force-leave/%s.dc1?prune=1&wan=1" % d.node)
        self.assertEqual(status, 200, body)
        for x in self.all:
            wait_until(lambda: d.node not in members(x), timeout=20, msg="%s forgot the newcomer" % x.node)
            wait_until(lambda: d.node + ".dc1" not in members(x, wan=True), timeout=20,
                       msg="%s forgot the newcomer on the WAN" % x.node)

    def test_keyring_bad_input_is_refused_and_agents_keep_serving(self):
        primary = self.primary()
        cp = self.a.cli("keyring", "-remove=" + primary)
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertEqual(cp.stdout, "==> Removing gossip encryption key...\n")
        self.assertTrue(cp.stderr.startswith("error: Unexpected response code: 500 (8 errors occurred:"), cp.stderr)
        self.assertIn("* WAN error: 3/3 nodes reported failure", cp.stderr)
        self.assertIn("* dc1 (LAN) error: 3/3 nodes reported failure", cp.stderr)
        self.assertIn("%s: Removing the primary key is not allowed" % self.b.node, cp.stderr)
        self.assertIn("%s.dc1: Removing the primary key is not allowed" % self.c.node, cp.stderr)

        cp = self.a.cli("keyring", "-install=not-base64!")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Unexpected response code: 400 (Invalid key: not valid base64", cp.stderr)
        cp = self.a.cli("keyring", "-use=" + base64.b64encode(b"short").decode())
        self.assertEqual(cp.returncode, 1)
        self.assertIn("(Invalid key: key size must be 16, 24 or 32 bytes, not 5)", cp.stderr)
        cp = self.a.cli("keyring", "-use=" + new_key(16))
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Requested key is not in the keyring", cp.stderr)
        cp = self.a.cli("keyring", "-list", "-install=" + new_key())
        self.assertEqual((cp.returncode, cp.stderr), (1, "Only a single action is allowed\n"))

        for body, want in [(None, "Request decode failed: request body is empty"),
                           ("{", "Request decode failed:"),
                           ("[]", "Request decode failed: expected a JSON object"),
                           ({}, 'Missing "Key"'),
                           ({"Key": 7}, '"Key" must be a string'),
                           ({"key": "abc"}, "Invalid key: not valid base64")]:
            status, _, data = self.a.http("POST", "/v1/operator/keyring", body)
            self.assertEqual(status, 400, (body, data))
            self.assertIn(want, data.decode(), body)
        status, _, data = self.a.http("GET", "/v1/operator/keyring?relay-factor=9")
        self.assertEqual((status, data), (400, b"Invalid relay-factor: Relay factor must be in range: [0, 5]"))

        # Nothing changed and everyone still answers.
        self.assertEqual(self.primary(), primary)
        for x in self.all:
            self.assertEqual(x.get("/v1/status/leader") != "", True)
            self.assertEqual(set(members(x).values()), {1})

    # ---- events --------------------------------------------------------------------------------

    def test_event_fired_on_one_agent_is_listed_on_the_others(self):
        eid = self.fire_and_wait(self.a, [self.b, self.c], "deploy", "hello")
        for x in self.all:
            got = [e for e in events(x) if e["ID"] == eid]
            self.assertEqual(len(got), 1)
            e = got[0]
            self.assertEqual(e["Name"], "deploy")
            self.assertEqual(base64.b64decode(e["Payload"]), b"hello")
            self.assertEqual((e["NodeFilter"], e["ServiceFilter"], e["TagFilter"], e["Version"]),
                             ("", "", "", 1))
            self.assertGreater(e["LTime"], 0)
        # No payload reads as null; ?name= filters.
        eid2 = self.fire_and_wait(self.b, [self.a], "nopayload")
        self.assertEqual([e["Payload"] for e in events(self.a, "nopayload") if e["ID"] == eid2], [None])
        self.assertFalse(any(e["Name"] != "deploy" for e in events(self.a, "deploy")))

    def test_event_filters_pick_the_receivers(self):
        status, _, body = self.b.http("PUT", "/v1/agent/service/register",
                                      {"Name": "web", "ID": "web-1", "Tags": ["v1"], "Port": 8080})
        self.assertEqual(status, 200, body)
        cp = self.cli_ok(self.a, "event", "-name=filtered", "-service=^web", "-tag=v1", "svc")
        eid = cp.stdout.split()[-1]
        wait_until(lambda: any(e["ID"] == eid for e in events(self.b, "filtered")), timeout=15,
                   msg="b (runs web v1) keeps the event")
        cp = self.cli_ok(self.a, "event", "-name=filtered", "-node=^%s$" % re.escape(self.c.node), "node")
        eid_node = cp.stdout.split()[-1]
        wait_until(lambda: any(e["ID"] == eid_node for e in events(self.c, "filtered")), timeout=15,
                   msg="c (named by the node filter) keeps the event")
        time.sleep(1.5)  # both events had time to reach everyone
        self.assertEqual([e["ID"] for e in events(self.b, "filtered")], [eid])
        self.assertEqual([e["ID"] for e in events(self.c, "filtered")], [eid_node])
        self.assertEqual(events(self.a, "filtered"), [])

    def test_event_list_blocks_until_a_new_event(self):
        # Filtered by name: events of the other tests may still reach c late (push/pull carries
        # the event buffer), and those must not count as the new event.
        status, hdrs, body = self.c.json("GET", "/v1/event/list?name=wake")
        self.assertEqual(status, 200)
        index = hdrs["X-Consul-Index"]
        result = {}

        def block():
            t0 = time.monotonic()
            result["resp"] = self.c.json("GET", "/v1/event/list?name=wake&index=%s&wait=20s" % index,
                                         timeout=40)
            result["took"] = time.monotonic() - t0

        t = threading.Thread(target=block)
        t.start()
        time.sleep(1.0)
        self.assertTrue(t.is_alive(), "the blocking list returned before any new event")
        cp = self.cli_ok(self.b, "event", "-name=wake")
        eid = cp.stdout.split()[-1]
        t.join(30)
        self.assertFalse(t.is_alive())
        status, hdrs, body = result["resp"]
        self.assertEqual(status, 200)
        self.assertLess(result["took"], 15)
        self.assertEqual(body[-1]["ID"], eid)
        self.assertNotEqual(hdrs["X-Consul-Index"], index)
        # The index is Consul's: both 64-bit halves of the last event's UUID XORed.
        h = eid.replace("-", "")
        self.assertEqual(int(hdrs["X-Consul-Index"]), int(h[:16], 16) ^ int(h[16:], 16))

    def test_event_bad_input(self):
        for path, body, code, want in [
                ("/v1/event/fire/", None, 400, "Missing name"),
                ("/v1/event/fire/x?tag=v1", None, 400, "Cannot provide tag filter without service filter"),
                ("/v1/event/fire/x?node=web%5B", None, 400, "Invalid node filter: error parsing regexp"),
                ("/v1/event/fire/x", "p" * 600, 413, "exceeds configured limit of 512 bytes")]:
            status, _, data = self.a.http("PUT", path, body)
            self.assertEqual(status, code, (path, data))
            self.assertIn(want, data.decode(), path)
        cp = self.a.cli("event", "payload")
        self.assertEqual(cp.returncode, 1)
        self.assertTrue(cp.stderr.startswith("Event name must be specified\n"), cp.stderr)
        cp = self.a.cli("event", "-name=x", "-tag=v1")
        self.assertEqual((cp.returncode, cp.stderr), (1, "Cannot provide tag filter without service filter.\n"))
        self.assertEqual(self.a.get("/v1/status/leader") != "", True)


if __name__ == "__main__":
    unittest.main()
