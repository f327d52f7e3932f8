"""Sessions and locks with real agents on loopback: one server and two client agents, then a
three-server cluster whose leader is killed. A lock held through one client's session is released
when that client is killed (its serfHealth turns critical) and taken by a waiter only after the
lock-delay; a semaphore of 2 admits exactly 2 of 5 `gangway lock -n 2` holders; a session's TTL
lapses (never before the TTL) and its keys are released or deleted per Behavior."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Agent, _stop_pid, gangway_bin, unique_node, wait_until, write_file
from test_gossip import gossip_addr
from test_raft import Cluster

LOCK_DELAY = 15.0  # Consul's default, which `gangway lock` sessions keep


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


class LockProcess:
    """A `gangway lock` process through `agent`, whose child records its PID in `marker`."""

    def __init__(self, testcase, agent, args, child):
        e = dict(os.environ)
        e.pop("CONSUL_HTTP_ADDR", None)
        e["GANGWAY_HTTP_ADDR"] = agent.addr
        self.argv = [gangway_bin(), "lock"] + list(args) + [child]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e)
        testcase.addCleanup(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            _stop_pid(self.proc, grace=10.0)
        out, err = self.proc.communicate()
        return out.decode("utf-8", "replace") + err.decode("utf-8", "replace")


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def kv(agent, key):
    status, _, v = agent.json("GET", "/v1/kv/" + key + "?stale")
    return v[0] if status == 200 and v else None


def session_exists(agent, sid):
    status, _, v = agent.json("GET", "/v1/session/info/" + sid + "?stale")
    return status == 200 and bool(v)


class Scenarios:
    """The checks, run against any agents: `server` answers reads, `holder` and `waiter` are the
    client agents the lock holders talk to."""

    def lock_moves_when_its_holder_node_dies(self, tc, reader, holder, waiter, tmp, extra=()):
        m1, m2 = os.path.join(tmp, "holder.pid"), os.path.join(tmp, "waiter.pid")
        first = LockProcess(tc, holder, list(extra) + ["svc/leader"],
                            "echo $$ > %s; exec sleep 600" % m1)
        child1 = wait_until(lambda: read_pid(m1), timeout=30, msg="the first child holds the lock")
        entry = wait_until(lambda: kv(reader, "svc/leader/.lock"), timeout=10)
        sid = entry["Session"]
        tc.assertEqual(entry["Flags"], 0x2ddccbc058a50c18)
        info = reader.get("/v1/session/info/" + sid)
        tc.assertEqual(info[0]["Node"], holder.node)
        tc.assertEqual(info[0]["TTL"], "15s")
        second = LockProcess(tc, waiter, list(extra) + ["svc/leader"],
                             "echo $$ > %s; exec sleep 600" % m2)
        time.sleep(3)  # the waiter is parked; it must not have the lock
        tc.assertIsNone(read_pid(m2))

        holder.proc.kill()  # kill -9: no leave, gossip has to notice
        wait_until(lambda: not session_exists(reader, sid), timeout=60, interval=0.1,
                   msg="the holder's session invalidated by serfHealth critical")
        invalidated = time.monotonic()
        released = kv(reader, "svc/leader/.lock")
        tc.assertTrue(released is None or not released.get("Session"), released)
        child2 = wait_until(lambda: read_pid(m2), timeout=LOCK_DELAY + 45, interval=0.1,
                            msg="the waiter took the lock")
        taken = time.monotonic() - invalidated
        tc.assertGreaterEqual(taken, LOCK_DELAY - 1.0, "taken %.1fs after invalidation" % taken)
        tc.assertEqual(kv(reader, "svc/leader/.lock")["Session"] != sid, True)
        # The first holder lost its agent: it stops its child.
        wait_until(lambda: not pid_alive(child1), timeout=30, msg="the first child killed")
        first.stop()
        second.stop()
        tc.assertFalse(pid_alive(child2))
        return taken

    def semaphore_admits_two_of_five(self, tc, agents, tmp, extra=()):
        d = os.path.join(tmp, "holders")
        os.makedirs(d)
        procs = [LockProcess(tc, agents[i % len(agents)], list(extra) + ["-n", "2", "sem/pool"],
                             "touch %s/$$; exec sleep 600" % d) for i in range(5)]
        wait_until(lambda: len(os.listdir(d)) >= 2, timeout=60, msg="two holders")
        time.sleep(3)  # give the other three every chance to (wrongly) get in
        holders = [int(p) for p in os.listdir(d)]
        tc.assertEqual(len(holders), 2, holders)
        doc = json.loads(agents[0].http("GET", "/v1/kv/sem/pool/.lock?raw")[2])
        tc.assertEqual(doc["Limit"], 2)
        tc.assertEqual(len(doc["Holders"]), 2)
        # A holder stops: exactly one more gets in.
        holding = [p for p in procs if p.proc.poll() is None]
        by_session = doc["Holders"]
        quitter = None
        for p in holding:
            # The child's parent is its `gangway lock`.
            for pid in holders:
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        ppid = int(f.read().split(") ")[1].split()[1])
                except OSError:
                    continue
                if ppid == p.proc.pid:
                    quitter = (p, pid)
        tc.assertIsNotNone(quitter)
        quitter[0].stop()
        tc.assertFalse(pid_alive(quitter[1]))
        wait_until(lambda: len(os.listdir(d)) == 3, timeout=60, msg="a third holder after a release")
        time.sleep(2)
        tc.assertEqual(len(os.listdir(d)), 3)
        alive = [int(p) for p in os.listdir(d) if pid_alive(int(p))]
        tc.assertEqual(len(alive), 2, alive)
        for p in procs:
            p.stop()
        del by_session

    def ttl_lapses_per_behavior(self, tc, writer, reader, ttl=10):
        made = time.monotonic()
        ids = {}
        for behavior in ("release", "delete"):
            status, _, v = writer.json("PUT", "/v1/session/create",
                                       {"TTL": "%ds" % ttl, "Behavior": behavior, "NodeChecks": [],
                                        "LockDelay": "1s"})
            tc.assertEqual(status, 200, v)
            ids[behavior] = v["ID"]
            st, _, ok = writer.json("PUT", "/v1/kv/ttl/%s?acquire=%s" % (behavior, v["ID"]), "val")
            tc.assertEqual((st, ok), (200, True))
        info = reader.get("/v1/session/info/" + ids["release"])
        tc.assertEqual(info[0]["Node"], writer.node)
        for sid in ids.values():
            wait_until(lambda: not session_exists(reader, sid), timeout=90, interval=0.2,
                       msg="session %s expired" % sid)
        lapsed = time.monotonic() - made
        tc.assertGreaterEqual(lapsed, float(ttl))
        kept = kv(reader, "ttl/release")
        tc.assertIsNotNone(kept)
        tc.assertNotIn("Session", kept)
        tc.assertEqual(reader.http("GET", "/v1/kv/ttl/delete?stale")[0], 404)
        return lapsed


class SingleServerTest(unittest.TestCase, Scenarios):
    """One server (-dev, session_ttl_min 5s) and two client agents."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gangway-sessions-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.server = Agent(node=unique_node("srv"))
        self.addCleanup(self.server.stop)
        self.server.start([], write_file(self.tmp, "server.hcl", 'session_ttl_min = "5s"\n'))
        join = gossip_addr(self.server, "lan")
        self.clients = []
        for _ in range(2):
            c = Agent(node=unique_node("cli"), dev=False)
            self.addCleanup(c.stop)
            c.start(["-retry-join", join, "-retry-interval", "1s"])
            self.clients.append(c)
        for c in self.clients:
            wait_until(lambda: any(ch["CheckID"] == "serfHealth" and ch["Status"] == "passing"
                                   for ch in self.server.get("/v1/health/node/" + c.node)),
                       timeout=30, msg="serfHealth passing for " + c.node)

    def test_api_texts_through_a_client(self):
        c = self.clients[0]
        st, _, body = c.http("PUT", "/v1/session/create", {"TTL": "1s"})
        self.assertEqual((st, body), (500, b"Invalid Session TTL '1000000000', must be between [5s=24h0m0s]"))
        st, _, v = c.json("PUT", "/v1/session/create", {"Name": "n"})
        self.assertEqual(st, 200)
        info = c.get("/v1/session/info/" + v["ID"])
        self.assertEqual(info[0]["Node"], c.node)  # the receiving agent's node
        self.assertEqual(info[0]["LockDelay"], 15000000000)
        st, _, body = c.http("PUT", "/v1/session/create?dc=dc9", {})
        self.assertEqual((st, body), (500, b"cross datacenter lock must be created at server agent"))
        self.assertEqual(c.http("POST", "/v1/session/destroy/" + v["ID"])[0], 405)
        self.assertEqual(c.http("PUT", "/v1/session/destroy/" + v["ID"])[2], b"true")
        self.assertEqual(c.get("/v1/session/info/" + v["ID"]), [])
        cp = c.cli("lock", "-n", "0", "p", "true")
        self.assertEqual((cp.returncode, cp.stderr), (1, "Lock holder limit must be positive\n"))
        cp = c.cli("lock", "p")
        self.assertEqual((cp.returncode, cp.stderr), (1, "Key prefix and child command must be specified\n"))

    def test_lock_released_when_the_holder_client_dies(self):
        taken = self.lock_moves_when_its_holder_node_dies(self, self.server, self.clients[0],
                                                          self.clients[1], self.tmp)
        print("\n  waiter took the lock %.1fs after the invalidation" % taken)

    def test_semaphore_of_two(self):
        self.semaphore_admits_two_of_five(self, [self.server] + self.clients, self.tmp)

    def test_ttl_lapse(self):
        lapsed = self.ttl_lapses_per_behavior(self, self.clients[0], self.server, ttl=5)
        print("\n  TTL 5s sessions gone after %.1fs" % lapsed)


class LeaderFailoverTest(unittest.TestCase, Scenarios):
    """Three servers and two clients; everything above still holds after the leader is killed."""

    def test_locks_semaphores_and_ttls_after_the_leader_dies(self):
        tmp = tempfile.mkdtemp(prefix="gangway-sessions-")
        self.addCleanup(shutil.rmtree, tmp, True)
        c = Cluster(self)
        leader = wait_until(c.leader, timeout=30, msg="a leader")
        for cl in c.clients:
            wait_until(lambda: any(ch["CheckID"] == "serfHealth" and ch["Status"] == "passing"
                                   for ch in c.servers[0].get("/v1/health/node/" + cl.node + "?stale")),
                       timeout=30, msg="serfHealth passing for " + cl.node)
        # A TTL session made before the failover, never renewed: the new leader re-arms its timer
        # (TTL x 2 from its election) and expires it.
        st, _, v = c.clients[0].json("PUT", "/v1/session/create",
                                     {"TTL": "10s", "Behavior": "delete", "NodeChecks": []})
        self.assertEqual(st, 200, v)
        early = v["ID"]
        self.assertEqual(c.clients[0].json("PUT", "/v1/kv/early?acquire=" + early, "x")[2], True)
        # A lock held across the failover by a renewing `gangway lock`.
        mark = os.path.join(tmp, "across.pid")
        across = LockProcess(self, c.clients[1], ["-monitor-retry", "30", "across"],
                             "echo $$ > %s; exec sleep 600" % mark)
        child = wait_until(lambda: read_pid(mark), timeout=30, msg="lock held before the failover")

        victim = c.agent(leader)
        victim.proc.kill()
        survivors = [a for a in c.servers if a is not victim]
        new_leader = wait_until(lambda: (lambda l: l if l and l != leader else None)(c.leader(survivors)),
                                timeout=30, msg="a new leader")
        reader = c.agent(new_leader)
        wait_until(lambda: not session_exists(reader, early), timeout=90, interval=0.2,
                   msg="the unrenewed TTL session expired by the new leader")
        self.assertEqual(reader.http("GET", "/v1/kv/early")[0], 404)
        # The renewed lock survived the failover (its 15s TTL passed meanwhile).
        self.assertTrue(pid_alive(child))
        self.assertEqual(across.proc.poll(), None)
        across.stop()

        self.semaphore_admits_two_of_five(self, c.clients, tmp, extra=["-monitor-retry", "30"])
        self.ttl_lapses_per_behavior(self, c.clients[1], reader)
        taken = self.lock_moves_when_its_holder_node_dies(self, reader, c.clients[0], c.clients[1],
                                                          tmp)
        print("\n  after the failover: the waiter took the lock %.1fs after the invalidation" % taken)


if __name__ == "__main__":
    unittest.main()
