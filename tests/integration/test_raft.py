"""Raft-replicated servers as separate processes: three servers (bootstrap_expect = 3) and two
client agents on loopback. Election, writes through any agent visible everywhere, kill -9 of the
leader during a stream of acknowledged writes (a new leader within 5 s, no acknowledged write
lost), the killed server restarting and catching up, and a full restart from the data dirs."""

import fcntl
import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import Agent, wait_until


# Ports handed to processes that bind them later (an agent's fixed ports, so it can restart as
# itself). Picked outside the kernel's ephemeral range, so no socket bound to port 0 or connecting
# out takes one meanwhile, and reserved against every other test process (these suites and the
# C++ tests, src/core/testing/ports.h) by a lock on /tmp/gangway-test-ports/<port>, held until
# this process exits.
_PORT_LOCK_DIR = "/tmp/gangway-test-ports"
_held_port_locks = []


def _port_pool():
    lo, hi = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
    except (OSError, ValueError):
        pass
    return 23000, (lo - 1 if lo > 24000 else 32767)


def _lock_port(port):
    os.makedirs(_PORT_LOCK_DIR, mode=0o1777, exist_ok=True)
    fd = os.open(os.path.join(_PORT_LOCK_DIR, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held_port_locks.append(fd)
    return True


def _bindable(kind, port):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n):
    """n distinct ports free on 127.0.0.1 for TCP and UDP (gossip), reserved for this process."""
    lo, hi = _port_pool()
    ports = []
    while len(ports) < n:
        p = random.randint(lo, hi)
        # The lock first: one this process already holds fails it (flock is per open file).
        if not _lock_port(p):
            continue
        if _bindable(socket.SOCK_STREAM, p) and _bindable(socket.SOCK_DGRAM, p):
            ports.append(p)
    return ports


class Cluster:
    """Servers with fixed ports and data dirs, so each can be killed and restarted as itself."""

    def __init__(self, testcase, n_servers=3, n_clients=2, dc="dc1", wan_join=None):
        self.tc = testcase
        self.dc = dc
        self.wan_join = wan_join
        self.root = tempfile.mkdtemp(prefix="gangway-raft-")
        testcase.addCleanup(shutil.rmtree, self.root, True)
        self.servers, self.clients = [], []
        self.spec = {}
        for i in range(n_servers):
            name = "%s-srv%d-%d" % (dc, i, os.getpid())
            http, lan, wan, rpc = free_ports(4)
            self.spec[name] = dict(http=http, lan=lan, wan=wan, rpc=rpc,
                                   data=os.path.join(self.root, name))
        self.first_lan = self.spec[sorted(self.spec)[0]]["lan"]
        for name in sorted(self.spec):
            self.servers.append(self.start_server(name))
        for i in range(n_clients):
            c = Agent(node="%s-cli%d-%d" % (dc, i, os.getpid()), dev=False)
            testcase.addCleanup(c.stop)
            c.start(["-datacenter", dc, "-retry-join", "127.0.0.1:%d" % self.first_lan,
                     "-retry-interval", "1s"])
            self.clients.append(c)

    def start_server(self, name):
        sp = self.spec[name]
        a = Agent(node=name, workdir=sp["data"] + "-work")
        os.makedirs(a.workdir, exist_ok=True)
        a.command = lambda extra=(), *files: [
            os.environ.get("GANGWAY_BIN") or "gangway", "agent", "-server", "-bootstrap-expect", "3",
            "-node", name, "-data-dir", sp["data"], "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", str(sp["http"]), "-dns-port", "-1", "-serf-lan-port", str(sp["lan"]),
            "-serf-wan-port", str(sp["wan"]), "-server-port", str(sp["rpc"]),
            "-datacenter", self.dc,
            "-retry-join", "127.0.0.1:%d" % self.first_lan, "-retry-interval", "1s"] + (
            ["-retry-join-wan", self.wan_join, "-retry-interval-wan", "1s"] if self.wan_join else [])
        self.tc.addCleanup(a.stop)
        a.start([])
        return a

    def leader(self, among=None):
        """The name of the server every live server agrees leads, or None."""
        seen = set()
        for a in (among or self.servers):
            if not a.running():
                continue
            try:
                status, _, body = a.http("GET", "/v1/status/leader", timeout=2)
            except OSError:
                return None
            if status != 200 or body in (b'""', b""):
                return None
            seen.add(json.loads(body))
        if len(seen) != 1:
            return None
        addr = seen.pop()
        for name, sp in self.spec.items():
            if addr.endswith(":%d" % sp["rpc"]):
                return name
        return None

    def agent(self, name):
        return [a for a in self.servers if a.node == name][0]


class RaftClusterTest(unittest.TestCase):
    def test_election_replication_failover_and_restart(self):
        c = Cluster(self)
        leader = wait_until(c.leader, timeout=30, msg="a leader every server agrees on")
        peers = c.servers[0].get("/v1/operator/raft/configuration")["Servers"]
        self.assertEqual(len(peers), 3)
        self.assertEqual(sum(1 for p in peers if p["Leader"]), 1)

        # Writes through any agent (servers and clients) are visible through every agent.
        everyone = c.servers + c.clients
        for i, a in enumerate(everyone):
            cp = a.cli("kv", "put", "w/from-%d" % i, "v%d" % i)
            self.assertEqual(cp.returncode, 0, cp.stderr + a.output()[-3000:])
        for a in everyone:
            keys = wait_until(lambda: (lambda st, _, v: v if st == 200 and v and len(v) == len(everyone) else None)(
                *a.json("GET", "/v1/kv/w/?keys&stale")), timeout=10, msg="all writes on " + a.node)
            self.assertEqual(len(keys), len(everyone))

        # Consistency modes on a follower: stale answers from its replica, default and
        # consistent reads are answered by the leader (consistent after a Raft barrier).
        follower = [a for a in c.servers if a.node != leader][0]
        for query, mode in (("stale", "stale"), ("consistent", "consistent"), ("", "leader"),
                            ("stale&max_stale=1h", "stale")):
            st, hdrs, body = follower.http("GET", "/v1/kv/w/from-0?raw&" + query)
            self.assertEqual((st, body), (200, b"v0"), query)
            self.assertEqual(hdrs["X-Consul-Effective-Consistency"], mode, query)
            self.assertEqual(hdrs["X-Consul-KnownLeader"], "true")
        st, _, body = follower.http("GET", "/v1/kv/w/from-0?stale&max_stale=soon")
        self.assertEqual((st, body), (400, b"Invalid max_stale value"))

        # A stream of acknowledged writes through a client while the leader is killed.
        writer = c.clients[0]
        acked, errors = [], []
        stop = threading.Event()

        def stream():
            i = 0
            while not stop.is_set() and i < 5000:
                try:
                    st, _, body = writer.http("PUT", "/v1/kv/stream/%06d" % i, b"x", timeout=15)
                except OSError as e:
                    errors.append(str(e))
                    time.sleep(0.05)
                    continue
                if st == 200 and body.strip() == b"true":
                    acked.append(i)
                else:
                    errors.append("%d %s" % (st, body[:200]))
                i += 1

        t = threading.Thread(target=stream)
        t.start()
        wait_until(lambda: len(acked) >= 500, timeout=60, msg="500 writes before the kill")
        victim = c.agent(leader)
        t_kill = time.monotonic()
        victim.proc.kill()
        survivors = [a for a in c.servers if a is not victim]
        new_leader = wait_until(lambda: (lambda l: l if l and l != leader else None)(c.leader(survivors)),
                                timeout=30, interval=0.05, msg="a new leader")
        elected_after = time.monotonic() - t_kill
        wait_until(lambda: len(acked) >= 1200, timeout=120, msg="1,200 acknowledged writes in all")
        stop.set()
        t.join(30)
        self.assertNotEqual(new_leader, leader)
        self.assertLess(elected_after, 5.0, "new leader after %.2fs" % elected_after)
        print("\n  new leader %s after %.2fs; %d writes acknowledged, %d refused or failed"
              % (new_leader, elected_after, len(acked), len(errors)))

        # Every acknowledged write is there.
        def stored(a):
            st, _, v = a.json("GET", "/v1/kv/stream/?keys&stale")
            return set(int(k.split("/")[1]) for k in v) if st == 200 and v else set()
        present = stored(c.agent(new_leader))
        missing = set(acked) - present
        self.assertFalse(missing, "acknowledged but lost: %s" % sorted(missing)[:20])

        # The killed server restarts from its data dir and catches up.
        c.servers[c.servers.index(victim)] = c.start_server(leader)
        back = c.agent(leader)
        wait_until(lambda: set(acked) <= stored(back), timeout=30, msg="the restarted server caught up")

        # A full restart of every server from the data dirs loses nothing.
        for a in c.servers:
            a.stop()
        c.servers = [c.start_server(name) for name in sorted(c.spec)]
        wait_until(c.leader, timeout=30, msg="a leader after the full restart")
        for a in c.servers:
            wait_until(lambda: set(acked) <= stored(a), timeout=30, msg="writes after restart on " + a.node)
        self.assertEqual(c.servers[0].cli("kv", "get", "w/from-0").stdout, "v0\n")


class CoalescedBlockingReadsTest(unittest.TestCase):
    def test_identical_blocking_reads_through_a_client_all_wake(self):
        c = Cluster(self, n_clients=1)
        wait_until(c.leader, timeout=30, msg="a leader")
        client = c.clients[0]
        self.assertEqual(client.cli("kv", "put", "watched", "v0").returncode, 0)
        _, headers, _ = client.http("GET", "/v1/kv/watched")
        index = int(headers["X-Consul-Index"])
        results = {}

        def watch(i, wait):
            st, h, body = client.http("GET", "/v1/kv/watched?raw&index=%d&wait=%s" % (index, wait),
                                      timeout=60)
            results[i] = (st, body, int(h.get("X-Consul-Index", 0)))
        # 30 identical reads share one forwarded request; two others differ in their wait.
        threads = [threading.Thread(target=watch, args=(i, "30s")) for i in range(30)]
        threads += [threading.Thread(target=watch, args=(30 + i, "%ds" % (40 + i))) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.assertEqual(results, {})  # all parked
        self.assertEqual(client.cli("kv", "put", "watched", "v1").returncode, 0)
        for t in threads:
            t.join(20)
        self.assertEqual(len(results), 32)
        for i, (st, body, idx) in results.items():
            self.assertEqual((st, body), (200, b"v1"), i)
            self.assertGreater(idx, index)
        # A short wait ends unchanged on its own, and the next read blocks afresh.
        st, h, body = client.http("GET", "/v1/kv/watched?raw&index=%d&wait=1s" % idx, timeout=20)
        self.assertEqual((st, body, int(h["X-Consul-Index"])), (200, b"v1", idx))


class TwoDatacenterTest(unittest.TestCase):
    def test_cross_dc_reads_and_stale_reads_without_a_leader(self):
        dc1 = Cluster(self, n_clients=1, dc="dc1")
        wan1 = "127.0.0.1:%d" % dc1.spec[sorted(dc1.spec)[0]]["wan"]
        dc2 = Cluster(self, n_clients=0, dc="dc2", wan_join=wan1)
        wait_until(dc1.leader, timeout=30, msg="dc1 leader")
        wait_until(dc2.leader, timeout=30, msg="dc2 leader")
        self.assertEqual(dc2.servers[0].cli("kv", "put", "where", "dc2").returncode, 0)
        status, _, body = dc2.servers[0].http("PUT", "/v1/agent/service/register",
                                              json.dumps({"Name": "billing", "Port": 9000}).encode())
        self.assertEqual(status, 200, body)
        client = dc1.clients[0]
        wait_until(lambda: "dc2" in (client.json("GET", "/v1/catalog/datacenters")[2] or []),
                   timeout=30, msg="dc1 knows dc2")
        # The form: catalog services -dc dc2 from a dc1 client.
        out = wait_until(lambda: (lambda cp: cp.stdout if cp.returncode == 0 and "billing" in cp.stdout else None)(
            client.cli("catalog", "services", "-dc", "dc2")), timeout=20, msg="dc2's services via dc1")
        self.assertIn("consul", out)
        cp = client.cli("kv", "get", "-datacenter=dc2", "where")
        self.assertEqual(cp.stdout, "dc2\n", cp.stderr)
        # dc2 loses two of its three servers: no leader there any more.
        victims = [a for a in dc2.servers if a.node != sorted(dc2.spec)[0]]
        for a in victims:
            a.proc.kill()
        survivor = dc2.agent(sorted(dc2.spec)[0])

        def leaderless():
            st, _, body = survivor.http("GET", "/v1/kv/where")
            return st == 500 and b"No cluster leader" in body
        wait_until(leaderless, timeout=60, interval=0.5, msg="dc2 without a leader")
        # Stale reads still answer, locally and from dc1 across the WAN.
        st, hdrs, body = survivor.http("GET", "/v1/kv/where?stale&raw")
        self.assertEqual((st, body), (200, b"dc2"))
        self.assertEqual(hdrs["X-Consul-KnownLeader"], "false")
        out = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(
            client.http("GET", "/v1/kv/where?dc=dc2&stale&raw")), timeout=30, msg="stale read via dc1")
        self.assertEqual(out[2], b"dc2")
        st, _, body = client.http("GET", "/v1/kv/where?dc=dc2")
        self.assertEqual(st, 500)
        self.assertIn(b"No cluster leader", body)


if __name__ == "__main__":
    unittest.main()
