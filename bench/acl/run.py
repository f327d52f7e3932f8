#!/usr/bin/env python3
"""ACL cost on the read path, and token resolution latency in a secondary datacenter.

  cost:       two `agent -dev` servers, one with ACLs off and one with ACLs on (default deny,
              an initial management token chosen here). On the second, a policy of --rules
              rules (one of them `key_prefix "bench/" { policy = "read" }`, the others on
              unrelated names, so the authorizer has something to search) and a token for it.
              `api_bench kvread` (GET /v1/kv/bench/key over keep-alive connections) then runs
              against each in turn, off, on, off, on, ... (--reps each, after one unmeasured
              warm-up each); best and median req/s and p99 of each side, the servers' CPU per
              request, and the cost (off - on) / off.
  resolution: a primary server (dc1) and a secondary server (dc2), both with ACLs on, dc2
              joined to dc1 over WAN. A secondary's server does not hold tokens: it asks the
              primary on a token's first use and caches the answer for acl.token_ttl. --tokens
              fresh tokens are created at dc1; for each, one GET /v1/kv/bench/key is sent to dc2
              (answered by dc2 from its own store once the token is known: a cache miss), then
              the same request again (a hit). One request at a time over one persistent
              connection. The same is done at dc1, where the first use builds the token's
              authorizer from the local store, as a baseline.

Everything runs on 127.0.0.1 on ports the agents bind themselves (tests/integration's
harness); every agent is started here and stopped by PID, temporary directories are removed,
and the whole run is cut off after --time-limit seconds.

Python standard library only.

Usage: bench/acl/run.py [--gangway build/tools/gangway] [--api-bench build/bench/api_bench]
                        [--total 200000] [--conns 16] [--reps 3] [--rules 10] [--tokens 200]
                        [--control]

--control starts both agents with ACLs off and runs only the first part: the "cost" it prints
is then how far two identical agents measured the same way differ, the noise floor of the first.
"""

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

# `key_prefix "bench/"` is the rule the load needs; the others only make the authorizer bigger.
FILLER_RULES = [
    'key_prefix "app/" { policy = "write" }',
    'key_prefix "config/" { policy = "deny" }',
    'key "locks/leader" { policy = "write" }',
    'service_prefix "web" { policy = "read" }',
    'service_prefix "api-" { policy = "write" }',
    'service "db" { policy = "read" }',
    'node_prefix "rack-" { policy = "read" }',
    'node "bench-node" { policy = "write" }',
    'session_prefix "" { policy = "read" }',
    'event_prefix "deploy-" { policy = "write" }',
    'query_prefix "" { policy = "read" }',
    'agent_prefix "" { policy = "read" }',
]

LINE_RE = re.compile(r"= (\d+) ops/s; latency p50 ([\d.]+) ms p90 [\d.]+ ms p99 ([\d.]+) ms.*"
                     r"errors (\d+); load generator CPU ([\d.]+) s")


class TimeLimit(Exception):
    pass


def load():
    from harness import Agent, unique_node, wait_until, write_file  # noqa: E402
    from test_gossip import gossip_addr  # noqa: E402
    return Agent, unique_node, wait_until, write_file, gossip_addr


def rules_text(n):
    return "\n".join(['key_prefix "bench/" { policy = "read" }'] + FILLER_RULES[:max(0, n - 1)])


def acl_hcl(tokens, primary="dc1", extra=""):
    return textwrap.dedent("""\
        primary_datacenter = "%s"
        acl {
          enabled        = true
          default_policy = "deny"
          tokens {
        %s
          }
        }
        %s
        """) % (primary, "\n".join('    %s = "%s"' % kv for kv in tokens.items()), extra)


def call(agent, method, path, body=None, token=None, want=200):
    headers = {"X-Consul-Token": token} if token else {}
    status, _, value = agent.json(method, path, body, headers=headers)
    if want is not None and status != want:
        raise AssertionError("%s %s on %s -> %d: %r" % (method, path, agent.node, status, value))
    return status, value


def make_policy_and_token(agent, mgmt, rules, count):
    """`count` tokens for the policy bench-kv-read, created first unless `rules` is None."""
    if rules is not None:
        call(agent, "PUT", "/v1/acl/policy", {"Name": "bench-kv-read", "Rules": rules}, mgmt)
    return [call(agent, "PUT", "/v1/acl/token", {"Policies": [{"Name": "bench-kv-read"}]}, mgmt)[1]["SecretID"]
            for _ in range(count)]


def proc_cpu(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kvread(api_bench, agent, total, conns, token):
    env = dict(os.environ)
    env.pop("GANGWAY_BENCH_TOKEN", None)
    if token:
        env["GANGWAY_BENCH_TOKEN"] = token
    cpu0 = proc_cpu(agent.proc.pid)
    cp = subprocess.run([api_bench, agent.addr, "kvread", str(total), str(conns)], env=env,
                        capture_output=True, text=True, timeout=180)
    server_cpu = proc_cpu(agent.proc.pid) - cpu0
    m = LINE_RE.search(cp.stdout)
    if cp.returncode != 0 or not m or int(m.group(4)) != 0:
        raise AssertionError("api_bench kvread against %s failed (exit %d):\n%s%s"
                             % (agent.node, cp.returncode, cp.stdout, cp.stderr))
    return {"rps": int(m.group(1)), "p50": float(m.group(2)), "p99": float(m.group(3)),
            "gen_cpu": float(m.group(5)), "server_us": server_cpu / total * 1e6,
            "line": cp.stdout.splitlines()[0]}


def cost(args, Agent, unique_node, wait_until, write_file, tmp):
    mgmt = str(uuid.uuid4())
    cfg = write_file(tmp, "acl-dev.hcl", acl_hcl({"initial_management": mgmt}))
    off = Agent(node=unique_node("bench-acl-off"))
    on = Agent(node=unique_node("bench-acl-on"))
    try:
        off.start(["-datacenter", "dc1"])
        rules = rules_text(args.rules)
        call(off, "PUT", "/v1/kv/bench/key", "x" * 64)
        if args.control:
            on.start(["-datacenter", "dc1"])
            token = None
            call(on, "PUT", "/v1/kv/bench/key", "x" * 64)
        else:
            on.start(["-datacenter", "dc1"], cfg)
            wait_until(lambda: on.json("GET", "/v1/acl/token/self",
                                       headers={"X-Consul-Token": mgmt})[0] == 200,
                       timeout=30, msg="the management token on the ACL agent")
            token = make_policy_and_token(on, mgmt, rules, 1)[0]
            call(on, "PUT", "/v1/kv/bench/key", "x" * 64, mgmt)
            # The load must be what ACLs allow and nothing more: anonymous reads are refused.
            status, _, body = on.http("GET", "/v1/kv/bench/key")
            assert status == 403, "an anonymous read on the ACL agent answered %d: %r" % (status, body)
            call(on, "GET", "/v1/kv/bench/key", token=token)

        print("== ACL cost: kvread, %d requests over %d connections, %d reps each, %s"
              % (args.total, args.conns, args.reps,
                 "CONTROL: the \"on\" agent has ACLs off too" if args.control
                 else "token with %d rules" % len(rules.splitlines())))
        kvread(args.api_bench, off, max(1000, args.total // 10), args.conns, None)
        kvread(args.api_bench, on, max(1000, args.total // 10), args.conns, token)
        runs = {"off": [], "on": []}
        for rep in range(args.reps):
            for name, agent, tok in (("off", off, None), ("on", on, token)):
                r = kvread(args.api_bench, agent, args.total, args.conns, tok)
                runs[name].append(r)
                print("  rep %d ACLs %-3s %7d req/s  p50 %.2f ms  p99 %.2f ms  server CPU %.1f us/req"
                      "  load generator CPU %.1f s  (loadavg %s)"
                      % (rep + 1, name, r["rps"], r["p50"], r["p99"], r["server_us"], r["gen_cpu"],
                         loadavg()))
    finally:
        on.stop()
        off.stop()

    def summary(rs):
        rps = [r["rps"] for r in rs]
        p99 = [r["p99"] for r in rs]
        cpu = [r["server_us"] for r in rs]
        return max(rps), statistics.median(rps), min(p99), statistics.median(p99), min(cpu), statistics.median(cpu)
    o, n = summary(runs["off"]), summary(runs["on"])
    print("                      ACLs off      ACLs on")
    print("  req/s best        %10.0f   %10.0f" % (o[0], n[0]))
    print("  req/s median      %10.0f   %10.0f" % (o[1], n[1]))
    print("  p99 ms best       %10.2f   %10.2f" % (o[2], n[2]))
    print("  p99 ms median     %10.2f   %10.2f" % (o[3], n[3]))
    print("  server us/req best%10.1f   %10.1f" % (o[4], n[4]))
    print("  server us/req med.%10.1f   %10.1f" % (o[5], n[5]))
    # On shared cores the server's CPU per request also moves with contention (more requests
    # per wake-up), so both the rate and the CPU figures are printed.
    print("  ACL cost: %.1f %% of req/s (best), %.1f %% (median); server CPU per request %+.1f %% "
          "(best), %+.1f %% (median)" % ((o[0] - n[0]) / o[0] * 100, (o[1] - n[1]) / o[1] * 100,
                                          (n[4] - o[4]) / o[4] * 100, (n[5] - o[5]) / o[5] * 100))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def timed_reads(agent, tokens, path):
    """Per token: the first request's latency and the second's, in ms, sequentially on one
    keep-alive connection."""
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=30)
    first, second = [], []
    try:
        for tok in tokens:
            for out in (first, second):
                t0 = time.perf_counter()
                conn.request("GET", path, headers={"X-Consul-Token": tok})
                r = conn.getresponse()
                body = r.read()
                out.append((time.perf_counter() - t0) * 1000)
                if r.status != 200:
                    raise AssertionError("GET %s on %s -> %d: %r" % (path, agent.node, r.status, body[:300]))
    finally:
        conn.close()
    return first, second


def resolution(args, Agent, unique_node, wait_until, write_file, gossip_addr, tmp):
    mgmt = str(uuid.uuid4())
    # Connect is not what is measured; it would only add the CA's start-up to the secondary's.
    cfg1 = write_file(tmp, "dc1.hcl", acl_hcl({"initial_management": mgmt}, extra="connect { enabled = false }"))
    cfg2 = write_file(tmp, "dc2.hcl", acl_hcl({"replication": mgmt, "agent": mgmt},
                                              extra="connect { enabled = false }"))
    dc1 = Agent(node=unique_node("bench-dc1"), dev=False)
    dc2 = Agent(node=unique_node("bench-dc2"), dev=False)
    try:
        dc1.start(["-server", "-bootstrap", "-datacenter", "dc1"], cfg1, timeout=30)
        dc2.start(["-server", "-bootstrap", "-datacenter", "dc2", "-retry-join-wan",
                   gossip_addr(dc1, "wan"), "-retry-interval-wan", "1s"], cfg2, timeout=30)
        wait_until(lambda: dc1.json("GET", "/v1/acl/token/self", headers={"X-Consul-Token": mgmt})[0] == 200,
                   timeout=30, msg="the management token at dc1")
        # dc2 writes once it has a leader and can resolve the management token through dc1.
        wait_until(lambda: dc2.json("PUT", "/v1/kv/bench/key", "x" * 64,
                                    headers={"X-Consul-Token": mgmt})[0] == 200,
                   timeout=60, msg="a write at dc2 with the management token")
        call(dc1, "PUT", "/v1/kv/bench/key", "x" * 64, mgmt)
        t0 = time.monotonic()
        tokens = make_policy_and_token(dc1, mgmt, rules_text(args.rules), args.tokens)
        made = time.monotonic() - t0
        print("== token resolution: %d fresh tokens (created at dc1 in %.1f s), one request at a time"
              % (len(tokens), made))
        unseen = make_policy_and_token(dc1, mgmt, None, 1)[0]
        miss, hit = timed_reads(dc2, tokens, "/v1/kv/bench/key")
        local_first, local_second = timed_reads(dc1, tokens, "/v1/kv/bench/key")
        # The misses above must have been answered by dc1: with dc1 gone, a token dc2 has seen
        # is still served from its cache, and one it has not is refused (down_policy).
        dc1.stop()
        seen_status = dc2.http("GET", "/v1/kv/bench/key", headers={"X-Consul-Token": tokens[0]})[0]
        t0 = time.perf_counter()
        unseen_status = dc2.http("GET", "/v1/kv/bench/key", headers={"X-Consul-Token": unseen})[0]
        unseen_ms = (time.perf_counter() - t0) * 1000
    finally:
        dc2.stop()
        dc1.stop()
    rows = (("dc2, first use (miss: asks dc1)", miss), ("dc2, second use (cached)", hit),
            ("dc1, first use (from its store)", local_first), ("dc1, second use", local_second))
    for label, xs in rows:
        print("  %-34s median %6.2f ms  p99 %6.2f ms  max %6.2f ms"
              % (label, statistics.median(xs), pct(xs, 99), max(xs)))
    print("  with dc1 stopped: a token dc2 had cached -> %d; a token it had not seen -> %d after %.0f ms"
          % (seen_status, unseen_status, unseen_ms))
    assert seen_status == 200 and unseen_status != 200, "dc2 resolved tokens without dc1"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gangway", default=os.path.join(ROOT, "build", "tools", "gangway"))
    p.add_argument("--api-bench", default=os.path.join(ROOT, "build", "bench", "api_bench"))
    p.add_argument("--total", type=int, default=200000)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rules", type=int, default=10, help="rules in the token's policy (1-%d)"
                   % (len(FILLER_RULES) + 1))
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--control", action="store_true",
                   help="cost part only, with ACLs off on both agents: how far two identical agents "
                   "measured the same way differ")
    p.add_argument("--time-limit", type=int, default=300, help="seconds before the run is cut off")
    args = p.parse_args()
    args.api_bench = os.path.abspath(args.api_bench)
    os.environ["GANGWAY_BIN"] = os.path.abspath(args.gangway)
    Agent, unique_node, wait_until, write_file, gossip_addr = load()

    def cut_off(signum, frame):
        raise TimeLimit("the run took longer than %d s" % args.time_limit)
    signal.signal(signal.SIGALRM, cut_off)
    signal.alarm(args.time_limit)
    print("== gangway ACL bench (%d cores, %s, loadavg %s)"
          % (os.cpu_count(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), loadavg()))
    try:
        with tempfile.TemporaryDirectory(prefix="gangway-acl-bench-") as tmp:
            cost(args, Agent, unique_node, wait_until, write_file, tmp)
            if not args.control:
                resolution(args, Agent, unique_node, wait_until, write_file, gossip_addr, tmp)
    finally:
        signal.alarm(0)
    print("== done (loadavg %s)" % loadavg())


if __name__ == "__main__":
    main()
