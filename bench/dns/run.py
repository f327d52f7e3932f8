#!/usr/bin/env python3
"""DNS queries/s and latency: Gangway's DNS interface beside dnsmasq, in one run.

A `gangway agent -dev` gets `--services` services (svc0 ... svcN-1, one instance each, a
distinct 10.x address); dnsmasq serves the same names and addresses from a hosts file
(`--addn-hosts`, no upstream). dnsperf (Debian's) then sends `svc<i>.service.consul A` queries
in shuffled order over UDP to each in turn, alternating, `--reps` times:

  rate:    as fast as they answer (-Q unlimited, dnsperf's default 100 queries in flight), for
           `--duration` seconds; queries/s and lost queries.
  latency: at a fixed `--rate` (below both maxima), with per-query latencies (-v); p50, p99,
           p99.9 and max from them.

Everything runs on 127.0.0.1 on free ports; both servers are started here and stopped by PID.

Usage: bench/dns/run.py [--gangway build/tools/gangway] [--services 1000] [--reps 3]
                        [--duration 10] [--rate 20000] [--json out.json]
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    # A port free for both UDP and TCP.
    while True:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        return port


def wait_dns(port, name, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cp = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), name, "+short", "+time=1",
                             "+tries=1"], capture_output=True, text=True)
        if cp.stdout.strip():
            return
        time.sleep(0.2)
    raise SystemExit("no answer for %s on port %d" % (name, port))


def address(i):
    return "10.%d.%d.%d" % (i // 62500 + 1, (i // 250) % 250, i % 250 + 1)


def dnsperf(port, queries, duration, rate=None, verbose=False):
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l", str(duration)]
    argv += ["-Q", str(rate)] if rate else []
    argv += ["-v"] if verbose else []
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    out = cp.stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    rcodes = re.search(r"Response codes:\s+(.*)", out)
    result = {"qps": qps, "lost": lost, "completed": completed,
              "rcodes": rcodes.group(1).strip() if rcodes else ""}
    if verbose:
        lat = sorted(float(m.group(1)) * 1000 for m in
                     re.finditer(r"^> \S+ \S+ \S+ ([\d.]+)$", out, re.M))
        if lat:
            pick = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))]
            result.update(p50_ms=pick(50), p99_ms=pick(99), p999_ms=pick(99.9), max_ms=lat[-1])
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gangway", default="build/tools/gangway")
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--json")
    args = ap.parse_args()
    for tool in ("dnsperf", "dnsmasq", "dig"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            raise SystemExit("%s is not installed (scripts/install-deps installs it)" % tool)
    dnsmasq_bin = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

    work = tempfile.mkdtemp(prefix="gangway-dns-bench-")
    procs = []
    try:
        http_port, g_port, m_port = free_port(), free_port(), free_port()
        g_log = open(os.path.join(work, "gangway.log"), "w")
        g = subprocess.Popen([args.gangway, "agent", "-dev", "-node", "bench",
                              "-http-port", str(http_port), "-dns-port", str(g_port),
                              "-serf-lan-port", "0", "-serf-wan-port", "0", "-server-port", "0",
                              "-log-level", "warn"], stdout=g_log, stderr=subprocess.STDOUT)
        procs.append(g)
        base = "http://127.0.0.1:%d" % http_port
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/v1/status/leader", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the agent did not start; log in " + work)
                time.sleep(0.1)
        hosts = os.path.join(work, "hosts")
        with open(hosts, "w") as f:
            for i in range(args.services):
                body = json.dumps({"Node": "node%d" % i, "Address": address(i),
                                   "Service": {"Service": "svc%d" % i, "Port": 8000}}).encode()
                req = urllib.request.Request(base + "/v1/catalog/register", data=body, method="PUT")
                urllib.request.urlopen(req, timeout=10).read()
                f.write("%s svc%d.service.consul\n" % (address(i), i))
        m_log = os.path.join(work, "dnsmasq.log")
        m = subprocess.Popen([dnsmasq_bin, "--keep-in-foreground", "--conf-file=/dev/null",
                              "--port=%d" % m_port, "--listen-address=127.0.0.1",
                              "--bind-interfaces", "--no-resolv", "--no-hosts",
                              "--addn-hosts=" + hosts, "--cache-size=10000", "--pid-file=",
                              "--user=" + (os.environ.get("USER") or "root"),
                              "--log-facility=" + m_log], stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT)
        procs.append(m)
        queries = os.path.join(work, "queries")
        names = ["svc%d.service.consul A" % i for i in range(args.services)]
        random.Random(1).shuffle(names)
        with open(queries, "w") as f:
            f.write("\n".join(names) + "\n")
        wait_dns(g_port, "svc%d.service.consul" % (args.services - 1))
        wait_dns(m_port, "svc%d.service.consul" % (args.services - 1))

        print("== DNS: gangway %s (dev agent, %d services) beside dnsmasq %s, %d cores, %s, load %s"
              % (subprocess.run([args.gangway, "version"], capture_output=True,
                                text=True).stdout.split("\n")[0],
                 args.services,
                 subprocess.run([dnsmasq_bin, "--version"], capture_output=True,
                                text=True).stdout.split("\n")[0].split()[2],
                 os.cpu_count(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 open("/proc/loadavg").read().split()[0]), flush=True)
        results = {"gangway": {"rate": [], "latency": []}, "dnsmasq": {"rate": [], "latency": []}}
        servers = [("gangway", g_port), ("dnsmasq", m_port)]
        for rep in range(args.reps):
            for name, port in servers if rep % 2 == 0 else reversed(servers):
                r = dnsperf(port, queries, args.duration)
                results[name]["rate"].append(r)
                print("  rep %d %-8s rate: %9.0f q/s, lost %d, %s" % (rep + 1, name, r["qps"],
                                                                    r["lost"], r["rcodes"]),
                      flush=True)
            for name, port in servers if rep % 2 == 0 else reversed(servers):
                r = dnsperf(port, queries, min(args.duration, 5), rate=args.rate, verbose=True)
                results[name]["latency"].append(r)
                print("  rep %d %-8s at %d q/s: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, lost %d"
                      % (rep + 1, name, args.rate, r.get("p50_ms", 0), r.get("p99_ms", 0),
                         r.get("p999_ms", 0), r.get("max_ms", 0), r["lost"]), flush=True)
        summary = {}
        for name in ("gangway", "dnsmasq"):
            summary[name] = {
                "qps_median": statistics.median(x["qps"] for x in results[name]["rate"]),
                "p99_ms_median": statistics.median(x.get("p99_ms", 0) for x in results[name]["latency"]),
                "p50_ms_median": statistics.median(x.get("p50_ms", 0) for x in results[name]["latency"]),
            }
        ratio = summary["gangway"]["qps_median"] / summary["dnsmasq"]["qps_median"]
        print("medians: gangway %.0f q/s (p50 %.3f ms, p99 %.3f ms at %d q/s); dnsmasq %.0f q/s "
              "(p50 %.3f ms, p99 %.3f ms); gangway / dnsmasq rate %.2f (goal >= 1: %s)"
              % (summary["gangway"]["qps_median"], summary["gangway"]["p50_ms_median"],
                 summary["gangway"]["p99_ms_median"], args.rate, summary["dnsmasq"]["qps_median"],
                 summary["dnsmasq"]["p50_ms_median"], summary["dnsmasq"]["p99_ms_median"], ratio,
                 "met" if ratio >= 1 else "not met"))
        with open("/proc/%d/status" % g.pid) as f:
            rss = [l for l in f if l.startswith("VmRSS")][0].split()[1]
        print("gangway agent RSS after the run: %s kB" % rss)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"results": results, "summary": summary, "ratio": ratio}, f, indent=1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is procs[0] else signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
