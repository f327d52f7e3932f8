#!/usr/bin/env python3
"""Sessions and locks: lock acquire/release cycles per second, and how long after a node fails
its sessions are invalidated.

One server (`agent -dev`) and client agents on loopback, started here (tests/integration's
harness) and stopped by PID at the end.

  cycles:       one session; each cycle is `PUT /v1/kv/<key>?acquire=<s>` then
                `?release=<s>`, both answered `true`, over one keep-alive connection (and, with
                --conns N, N connections each cycling its own key and session). Through the server's
                HTTP port, and through a client agent's, which forwards each write to the server.
  invalidation: a client agent joins; a session created through it (default check serfHealth)
                holds a key; the client is SIGKILLed (T0); latency = T0 until the server's
                /v1/session/info shows the session gone (a blocking read on the sessions table,
                re-armed at once). Repeated --reps times with a fresh client (the dead one pruned
                from the pool first); the median is printed.
                It is dominated by gossip's failure detection, then the leader's serfHealth write;
                when the server's member list stops showing the node alive is printed beside it.

Python standard library only.

Usage: bench/sessions/run.py [--gangway build/tools/gangway] [--cycles 2000] [--conns 8] [--reps 5]
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def load():
    from harness import Agent, unique_node, wait_until  # noqa: E402
    from test_gossip import gossip_addr  # noqa: E402
    return Agent, unique_node, wait_until, gossip_addr


class Conn:
    def __init__(self, agent):
        self.c = http.client.HTTPConnection(agent.host, agent.port, timeout=60)

    def call(self, method, path, body=None):
        self.c.request(method, path, body=body)
        r = self.c.getresponse()
        return r.status, r.read()


def cycles(agent, n, key):
    conn = Conn(agent)
    st, body = conn.call("PUT", "/v1/session/create", json.dumps({"NodeChecks": [], "LockDelay": "0s"}))
    assert st == 200, body
    sid = json.loads(body)["ID"]
    t0 = time.perf_counter()
    for _ in range(n):
        st, body = conn.call("PUT", "/v1/kv/%s?acquire=%s" % (key, sid), b"x")
        assert (st, body.strip()) == (200, b"true"), (st, body)
        st, body = conn.call("PUT", "/v1/kv/%s?release=%s" % (key, sid))
        assert (st, body.strip()) == (200, b"true"), (st, body)
    took = time.perf_counter() - t0
    conn.call("PUT", "/v1/session/destroy/" + sid)
    return took


def cycle_rate(agent, n, conns, tag):
    took = cycles(agent, n, "bench/%s/one" % tag)
    one = n / took
    times = [None] * conns

    def run(i):
        times[i] = cycles(agent, n, "bench/%s/k%d" % (tag, i))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return one, took / n * 1000, conns * n / wall


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gangway", default=os.path.join(ROOT, "build", "tools", "gangway"))
    p.add_argument("--cycles", type=int, default=2000)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    os.environ["GANGWAY_BIN"] = os.path.abspath(args.gangway)
    Agent, unique_node, wait_until, gossip_addr = load()

    server = Agent(node=unique_node("bench-srv"))
    agents = [server]
    try:
        server.start([])
        join = gossip_addr(server, "lan")
        client = Agent(node=unique_node("bench-cli"), dev=False)
        agents.append(client)
        client.start(["-retry-join", join, "-retry-interval", "1s"])
        wait_until(lambda: any(m["Name"] == client.node for m in server.get("/v1/agent/members")),
                   timeout=30, msg="the client joined")
        print("== sessions and locks (%d cores, %s)" % (os.cpu_count(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        for name, a in (("server", server), ("client agent", client)):
            one, ms, many = cycle_rate(a, args.cycles, args.conns, name.split()[0])
            print("lock cycles through the %s: %.0f /s on 1 connection (%.2f ms a cycle); "
                  "%.0f /s on %d connections" % (name, one, ms, many, args.conns))

        lat, gossip = [], []
        for rep in range(args.reps):
            victim = Agent(node=unique_node("bench-victim"), dev=False)
            agents.append(victim)
            victim.start(["-retry-join", join, "-retry-interval", "1s"])

            def serf_passing():
                checks = server.get("/v1/health/node/" + victim.node)
                return any(c["CheckID"] == "serfHealth" and c["Status"] == "passing" for c in checks)
            wait_until(serf_passing, timeout=30, msg="serfHealth passing for the victim")
            st, _, v = victim.json("PUT", "/v1/session/create", {})
            assert st == 200, v
            sid = v["ID"]
            st, _, ok = victim.json("PUT", "/v1/kv/bench/victim/%d?acquire=%s" % (rep, sid), "x")
            assert ok is True, (st, ok)
            _, hdrs, _ = server.json("GET", "/v1/session/info/" + sid)
            index = hdrs["X-Consul-Index"]
            seen_failed = []

            def watch_members():
                # When the server's gossip stops listing the victim alive (Status 1), polled.
                while not seen_failed and time.monotonic() - t0 < 120:
                    try:
                        ms = server.get("/v1/agent/members", timeout=5)
                    except (OSError, AssertionError):
                        ms = []
                    if any(m["Name"] == victim.node and m["Status"] != 1 for m in ms):
                        seen_failed.append(time.monotonic() - t0)
                    time.sleep(0.02)
            t0 = time.monotonic()
            victim.proc.kill()
            watcher = threading.Thread(target=watch_members)
            watcher.start()
            while True:
                st, hdrs, v = server.json("GET", "/v1/session/info/%s?index=%s&wait=60s" % (sid, index),
                                          timeout=90)
                if st == 200 and v == []:
                    break
                index = hdrs["X-Consul-Index"]
            lat.append(time.monotonic() - t0)
            watcher.join()
            gossip.append(seen_failed[0] if seen_failed else float("nan"))
            victim.stop()
            # Every repetition starts from the same pool (server, client, a fresh victim): a failed
            # member left in it changes gossip's suspicion timeouts for the next one.
            server.http("PUT", "/v1/agent/force-leave/%s?prune" % victim.node)
            wait_until(lambda: all(m["Name"] != victim.node for m in server.get("/v1/agent/members")),
                       timeout=30, msg="the victim pruned from the pool")
            print("  rep %d: session invalidated %.2f s after kill -9 (the server's gossip listed "
                  "the node failed after %.2f s)" % (rep + 1, lat[-1], gossip[-1]))
        print("session invalidation after a node failure: median %.2f s (min %.2f, max %.2f) of %d"
              % (statistics.median(lat), min(lat), max(lat), len(lat)))
    finally:
        for a in reversed(agents):
            a.stop()


if __name__ == "__main__":
    main()
