#!/usr/bin/env python3
"""How fast the mesh follows the catalog and the CA, measured with real processes on loopback.

Part 1, new instance -> first request: one dev agent, `web` with a sidecar whose upstream is
`api`, one `api` instance with a sidecar, and a load loop opening a new connection per request
through web's upstream port. A new api instance (own app, own sidecar process, a TTL check that
starts critical) is registered; once its sidecar is up, its TTL check is marked passing (T0) and
the time until the first response served by it (T1) is taken, with two intermediate points: when
`/v1/health/connect/api?passing` lists it and when web's compiled proxy config carries it as a
passing endpoint.

Part 2, root rotation with N sidecars on one agent: N services with a sidecar each, N proxy
processes (-workers 1). Once every public listener serves its leaf, the CA configuration is changed
so that a new root is made (T0), and every listener is polled with TLS handshakes until the leaf it
serves carries the new root's key ID as its authority key ID. Also: agent and proxy RSS.

Part 3, intention change -> enforcement with N destination sidecars on one agent: each lets
`web` through (default allow); T0 = an intention change that covers all of them, written through
the intentions API and then as a service-intentions config entry (deny web -> *, then its
removal); every listener is probed with mTLS connections presenting web's own leaf until each
refuses (or again admits) it. The proxies' "applied config version" log lines date their side.

Python standard library only. Every process is started here and stopped by PID at the end.
Usage: bench/mesh-propagation/run.py [--gangway build/tools/gangway] [--part 1|2|3|all]
"""

import argparse
import calendar
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

STARTED_RE = re.compile(r"Started HTTP server: address=(\S+):(\d+) network=tcp")
ADMIN_RE = re.compile(r"admin endpoint listening on 127\.0\.0\.1:(\d+)")


def now():
    return time.monotonic()


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wait_until(fn, timeout, what, interval=0.02):
    deadline = now() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if now() >= deadline:
            raise RuntimeError("%s: not within %.0f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


def free_ports(n):
    """n distinct ports free now on every address, below the kernel's ephemeral range.

    Sidecar ports must be explicit, so they are chosen before the proxies bind them. Ports the
    kernel hands out for port 0 and for outgoing connections come from the ephemeral range,
    where other programs on a shared machine pick theirs at any moment; a port below that
    range is only taken by a program that names it. Each candidate is bound on 0.0.0.0 (held
    until all are chosen) and must also refuse a connection on 127.0.0.1."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    low, high = 10000, max(10001, ephemeral_low)
    rng = random.Random()
    socks, ports = [], []
    try:
        while len(ports) < n:
            port = rng.randrange(low, high)
            if port in ports:
                continue
            s = socket.socket()
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def port_listeners(port):
    """How many listening TCP sockets (IPv4 and IPv6) have this local port."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except OSError:
            pass
    return count


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


# ---- processes


class Processes:
    """Every process this run starts, each logging to its own file; stop_all() stops exactly
    those PIDs (SIGINT, then SIGKILL after a grace period)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, args):
        log = os.path.join(self.workdir, name + ".log")
        f = open(log, "wb")
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        f.close()
        p.log_path = log
        p.name = name
        self.procs.append(p)
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        live = [p for p in self.procs if p.poll() is None]
        for p in live:  # signal all first, so the drains overlap
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        deadline = now() + 10
        for p in list(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - now()))
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        self.procs = []


def read_log(p):
    with open(p.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class Agent:
    def __init__(self, procs, gangway, name, log_level="info"):
        self.gangway = gangway
        data = os.path.join(procs.workdir, name + "-data")
        os.makedirs(data, exist_ok=True)
        self.p = procs.start(name, [
            gangway, "agent", "-dev", "-node", name, "-data-dir", data, "-bind", "127.0.0.1",
            "-client", "127.0.0.1", "-http-port", "0", "-dns-port", "-1", "-serf-lan-port", "0",
            "-serf-wan-port", "0", "-server-port", "0", "-log-level", log_level])

        def started():
            if self.p.poll() is not None:
                raise RuntimeError("agent exited:\n" + read_log(self.p)[-3000:])
            return STARTED_RE.search(read_log(self.p))
        m = wait_until(started, 60, "agent HTTP server")
        self.addr = "%s:%s" % (m.group(1), m.group(2))
        wait_until(lambda: self.call("GET", "/v1/connect/ca/roots")[0] == 200 and
                   self.json("GET", "/v1/connect/ca/roots").get("ActiveRootID"),
                   60, "CA roots")

    def call(self, method, path, body=None, timeout=30):
        host, port = self.addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            data = None if body is None else (body if isinstance(body, bytes)
                                              else json.dumps(body).encode())
            c.request(method, path, body=data)
            r = c.getresponse()
            return r.status, r.getheader("X-Consul-Index"), r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, timeout=30):
        status, _, data = self.call(method, path, body, timeout)
        if status != 200:
            raise RuntimeError("%s %s: %d %s" % (method, path, status, data[:300]))
        return json.loads(data) if data.strip() else None

    def start_proxy(self, procs, name, sidecar_for, workers=1):
        return procs.start(name, [
            self.gangway, "connect", "proxy", "-sidecar-for", sidecar_for, "-http-addr",
            self.addr, "-admin-bind", "127.0.0.1:0", "-workers", str(workers),
            "-log-level", "info"])


def admin_port(p):
    m = ADMIN_RE.search(read_log(p))
    return int(m.group(1)) if m else None


def proxy_ready(p):
    if p.poll() is not None:
        raise RuntimeError("proxy %s exited:\n%s" % (p.name, read_log(p)[-2000:]))
    port = admin_port(p)
    if port is None:
        return False
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/ready")
        r = c.getresponse()
        r.read()
        return r.status == 200
    finally:
        c.close()


# ---- part 1


class App:
    """A tiny HTTP app answering every GET with its instance name."""

    def __init__(self, name):
        body = name.encode()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class LoadLoop:
    """GET / through web's upstream port, a new connection per request, paced at `rate`/s.
    Remembers when each instance name was first seen."""

    def __init__(self, port, rate):
        self.port = port
        self.interval = 1.0 / rate
        self.first_seen = {}
        self.first_sent = {}  # when the request that first reached an instance was sent
        self.latencies = []
        self.counts = {}
        self.errors = 0
        self.requests = 0
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        next_at = now()
        while not self.stopping:
            sent = now()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read().decode("utf-8", "replace")
                c.close()
                t = now()
                with self.cond:
                    self.requests += 1
                    if r.status == 200:
                        self.latencies.append(t - sent)
                        self.counts[body] = self.counts.get(body, 0) + 1
                        if body not in self.first_seen:
                            self.first_seen[body] = t
                            self.first_sent[body] = sent
                            self.cond.notify_all()
                    else:
                        self.errors += 1
            except (OSError, http.client.HTTPException):
                with self.cond:
                    self.requests += 1
                    self.errors += 1
            next_at += self.interval
            delay = next_at - now()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = now()

    def wait_for(self, name, timeout):
        deadline = now() + timeout
        with self.cond:
            while name not in self.first_seen:
                left = deadline - now()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.first_seen[name]

    def stop(self):
        self.stopping = True
        self.thread.join(10)


class BlockingWatch(threading.Thread):
    """Runs a blocking query on the agent until `pred(parsed body)` holds; records when."""

    def __init__(self, agent, path, pred, timeout):
        super().__init__(daemon=True)
        self.agent, self.path, self.pred, self.timeout = agent, path, pred, timeout
        self.at = None
        self.index = None
        status, index, body = agent.call("GET", path)
        self.index = index
        if status == 200 and pred(json.loads(body)):
            self.at = 0.0  # already true: reported as such
        self.start()

    def run(self):
        deadline = now() + self.timeout
        while self.at is None and now() < deadline:
            sep = "&" if "?" in self.path else "?"
            try:
                status, index, body = self.agent.call(
                    "GET", "%s%sindex=%s&wait=30s" % (self.path, sep, self.index or 0), timeout=40)
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
                continue
            t = now()
            if status == 200 and self.pred(json.loads(body)):
                self.at = t
                return
            self.index = index


def passing_endpoint(port):
    def pred(config):
        for c in config.get("Clusters", []) or []:
            for e in c.get("Endpoints", []) or []:
                if e.get("Port") == port and e.get("Health") == "passing":
                    return True
        return False
    return pred


def listed_passing(service_id):
    def pred(nodes):
        return any(n.get("Service", {}).get("Proxy", {}).get("DestinationServiceID") == service_id
                   for n in nodes)
    return pred


def sidecar_listening(agent, sidecar_id):
    checks = agent.json("GET", "/v1/agent/checks")
    own = [c for c in checks.values() if c.get("ServiceID") == sidecar_id]
    return any(c.get("Name") == "Connect Sidecar Listening" and c.get("Status") == "passing"
               for c in own)


def part1(args, procs, out):
    print("== part 1: new instance -> first request (load %s)" % load(), flush=True)
    agent = Agent(procs, args.gangway, "p1-agent")
    web_app, api_app = App("web"), App("api-1")
    apps = [web_app, api_app]
    loop = None
    try:
        upstream, web_sc, api_sc = free_ports(3)
        agent.json("PUT", "/v1/agent/service/register", {
            "Name": "web", "ID": "web", "Port": web_app.port,
            "Connect": {"SidecarService": {"Port": web_sc, "Proxy": {"Upstreams": [
                {"DestinationName": "api", "LocalBindPort": upstream}]}}}})
        agent.json("PUT", "/v1/agent/service/register", {
            "Name": "api", "ID": "api-1", "Port": api_app.port,
            "Connect": {"SidecarService": {"Port": api_sc}}})
        webp = agent.start_proxy(procs, "p1-web-proxy", "web")
        apip = agent.start_proxy(procs, "p1-api-1-proxy", "api-1")

        def through():
            c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=5)
            try:
                c.request("GET", "/")
                return c.getresponse().read() == b"api-1"
            finally:
                c.close()
        t = now()
        wait_until(through, 60, "api-1 through web's upstream")
        print("web -> api-1 path up %.2f s after the proxies started" % (now() - t), flush=True)
        loop = LoadLoop(upstream, args.rate)
        wait_until(lambda: loop.counts.get("api-1", 0) > 10, 30, "load loop")

        samples = []
        for k in range(1, args.repeats + 1):
            name = "api-new-%d" % k
            sidecar_id = name + "-sidecar-proxy"
            app = App(name)
            apps.append(app)
            (sc_port,) = free_ports(1)
            check_id = name + "-ttl"
            agent.json("PUT", "/v1/agent/service/register", {
                "Name": "api", "ID": name, "Port": app.port,
                "Check": {"CheckID": check_id, "Name": "app ttl", "TTL": "10m",
                          "Status": "critical"},
                "Connect": {"SidecarService": {"Port": sc_port}}})
            started = now()
            p = agent.start_proxy(procs, "p1-%s-proxy" % name, name)
            wait_until(lambda: proxy_ready(p), 60, name + " sidecar ready")
            ready_after = now() - started
            wait_until(lambda: sidecar_listening(agent, sidecar_id), 30,
                       name + " sidecar listening check")
            # Web's config must already list the new endpoint as critical (registered).
            wait_until(lambda: any(
                e.get("Port") == sc_port
                for c in agent.json("GET", "/v1/agent/connect/proxy/web-sidecar-proxy")
                .get("Clusters", []) for e in (c.get("Endpoints") or [])), 30,
                "web config lists the new endpoint")
            up_after = now() - started
            assert name not in loop.first_seen, name + " answered while critical"
            health = BlockingWatch(agent, "/v1/health/connect/api?passing=1",
                                   listed_passing(name), 60)
            config = BlockingWatch(agent, "/v1/agent/connect/proxy/web-sidecar-proxy",
                                   passing_endpoint(sc_port), 60)
            t0 = now()
            status, _, body = agent.call("PUT", "/v1/agent/check/pass/" + check_id)
            t_put = now()
            if status != 200:
                raise RuntimeError("check pass: %d %s" % (status, body[:200]))
            t1 = loop.wait_for(name, 60)
            health.join(65)
            config.join(65)
            if t1 is None:
                raise RuntimeError(name + ": no response from the new instance within 60 s")
            s = {"instance": name, "t1_ms": (t1 - t0) * 1e3, "put_ms": (t_put - t0) * 1e3,
                 "t1_sent_ms": (loop.first_sent[name] - t0) * 1e3,
                 "health_ms": None if health.at is None else (health.at - t0) * 1e3,
                 "config_ms": None if config.at is None else (config.at - t0) * 1e3,
                 "sidecar_ready_s": ready_after, "sidecar_up_s": up_after}
            samples.append(s)
            print("  %s: T1-T0 %.1f ms (its request sent at %.1f ms; PUT answered %.1f ms, health "
                  "lists it %s ms, web's config has it passing %s ms); sidecar ready %.2f s, "
                  "checks up %.2f s after start" % (name, s["t1_ms"], s["t1_sent_ms"], s["put_ms"],
                             "%.1f" % s["health_ms"] if s["health_ms"] is not None else "?",
                             "%.1f" % s["config_ms"] if s["config_ms"] is not None else "?",
                             ready_after, up_after), flush=True)
            # Take it out again before the next round: deregister, then stop its proxy.
            agent.json("PUT", "/v1/agent/service/deregister/" + name)
            wait_until(lambda: not any(
                e.get("Port") == sc_port
                for c in agent.json("GET", "/v1/agent/connect/proxy/web-sidecar-proxy")
                .get("Clusters", []) for e in (c.get("Endpoints") or [])), 30,
                "web config drops " + name)
            procs.stop(p)
        t1s = [s["t1_ms"] for s in samples]
        summary = {"median_ms": statistics.median(t1s), "max_ms": max(t1s),
                   "min_ms": min(t1s), "samples": samples,
                   "load_requests": loop.requests, "load_errors": loop.errors,
                   "request_p50_ms": pct(loop.latencies, 50) * 1e3,
                   "request_p99_ms": pct(loop.latencies, 99) * 1e3,
                   "rate": args.rate, "loadavg_end": load()}
        print("T1-T0: median %.1f ms, max %.1f ms, min %.1f ms over %d; load loop %d requests, "
              "%d errors, request p50 %.1f ms, p99 %.1f ms (load %s)"
              % (summary["median_ms"], summary["max_ms"], summary["min_ms"], len(t1s),
                 loop.requests, loop.errors, summary["request_p50_ms"],
                 summary["request_p99_ms"], load()), flush=True)
        out["part1"] = summary
    finally:
        if loop:
            loop.stop()
        for a in apps:
            a.close()


# ---- part 2


def der_len(b, i):
    """(length, offset of the contents) of the DER element whose length byte is at b[i]."""
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k


def authority_key_id(der):
    """The keyIdentifier of a certificate's authorityKeyIdentifier extension, or None."""
    i = der.find(b"\x06\x03\x55\x1d\x23")  # OID 2.5.29.35
    if i < 0:
        return None
    i += 5
    if der[i] == 0x01:  # critical BOOLEAN
        _, j = der_len(der, i + 1)
        i = j + 1
    if der[i] != 0x04:
        return None
    _, i = der_len(der, i + 1)
    if der[i] != 0x30:
        return None
    _, i = der_len(der, i + 1)
    if der[i] != 0x80:
        return None
    n, i = der_len(der, i + 1)
    return der[i:i + n]


def served_leaf(port, timeout=5):
    """DER of the certificate the listener presents (no verification, no client certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def key_id(colon_hex):
    return bytes.fromhex(colon_hex.replace(":", ""))


def poll_until(items, check, timeout, threads=2, pause=0.05):
    """Calls check(item) for every item over and over (spread over `threads`) until it holds for
    each; returns {item: monotonic time first seen} (missing items timed out)."""
    seen = {}
    lock = threading.Lock()
    deadline = now() + timeout

    def worker(mine):
        pending = list(mine)
        while pending and now() < deadline:
            for item in list(pending):
                if check(item):
                    with lock:
                        seen[item] = now()
                    pending.remove(item)
            if pending:
                time.sleep(pause)

    ts = [threading.Thread(target=worker, args=(items[i::threads],), daemon=True)
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return seen


def poll_all(ports, pred, timeout, threads=2, pause=0.05):
    """Handshakes with every port until pred(der) holds for the leaf it serves; returns {port:
    monotonic time first seen}."""
    def check(port):
        try:
            der = served_leaf(port)
        except (OSError, ssl.SSLError, ValueError):
            return False
        return bool(der) and pred(der)
    return poll_until(ports, check, timeout, threads, pause)


LOG_TS_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z")


def log_time(line):
    """Unix time of a log line's timestamp (UTC, milliseconds), or None."""
    m = LOG_TS_RE.match(line)
    if not m:
        return None
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return t + (float(m.group(2)) if m.group(2) else 0.0)


def log_stages(agent, proxies, names, t0_wall):
    """From the logs (ms after T0): per proxy, the last config the agent compiled for it and
    the last config the proxy applied (after T0, the new leaf's); and when the leaf cache saw
    the new root."""
    compiled = {}
    renew = None
    for line in read_log(agent.p).splitlines():
        t = log_time(line)
        if t is None or t < t0_wall - 0.005:
            continue
        if "renewing" in line and renew is None:
            renew = (t - t0_wall) * 1e3
        m = re.search(r'proxy "([^"]+)-sidecar-proxy": config version', line)
        if m:
            compiled[m.group(1)] = (t - t0_wall) * 1e3
    applied = []
    for p in proxies:
        last = None
        for line in read_log(p).splitlines():
            t = log_time(line)
            if t is not None and t >= t0_wall - 0.005 and "applied config version" in line:
                last = (t - t0_wall) * 1e3
        applied.append(last)
    return {"agent_leaf_config": [compiled.get(n) for n in names], "proxy_applied": applied,
            "renew_logged": renew}


def rss_summary(pids):
    st = [proc_status(p) for p in pids]
    rss = [s.get("VmRSS", 0) for s in st]
    hwm = [s.get("VmHWM", 0) for s in st]
    return {"n": len(pids), "rss_total_kb": sum(rss), "rss_mean_kb": sum(rss) / max(1, len(rss)),
            "rss_max_kb": max(rss or [0]), "hwm_max_kb": max(hwm or [0]),
            "hwm_mean_kb": sum(hwm) / max(1, len(hwm))}


def part2(args, procs, out):
    n = args.sidecars
    print("== part 2: root rotation with %d sidecars on one agent (load %s)" % (n, load()),
          flush=True)
    # Debug: the agent logs each proxy's new config version, which dates the agent's side.
    agent = Agent(procs, args.gangway, "p2-agent", log_level="debug")
    ports = free_ports(2 * n)
    names = ["svc-%03d" % i for i in range(n)]
    sc_ports = ports[n:]
    t = now()
    for i, name in enumerate(names):
        agent.json("PUT", "/v1/agent/service/register", {
            "Name": name, "ID": name, "Port": ports[i],
            "Connect": {"SidecarService": {"Port": sc_ports[i]}}})
    print("registered %d services with sidecars in %.2f s" % (n, now() - t), flush=True)
    roots = agent.json("GET", "/v1/connect/ca/roots")
    old_root = roots["ActiveRootID"]
    old_kid = key_id(next(r for r in roots["Roots"] if r["ID"] == old_root)["SigningKeyID"])
    cpu_agent0 = cpu_seconds(agent.p.pid)
    t_start = now()
    proxies = [agent.start_proxy(procs, "p2-%s-proxy" % name, name) for name in names]
    print("started %d proxy processes in %.2f s" % (n, now() - t_start), flush=True)
    seen = poll_all(sc_ports, lambda der: authority_key_id(der) == old_kid, args.timeout)
    if len(seen) < n:
        dead = [p.name for p in proxies if p.poll() is not None]
        missing = [(names[i], port, port_listeners(port)) for i, port in enumerate(sc_ports)
                   if port not in seen]
        print("WARNING: %d listener(s) never served a leaf: %s (name, port, listening sockets "
              "on that port; more than one means another process listens there too); exited: %s"
              % (len(missing), missing, dead[:5]), flush=True)
        if dead or len(missing) > n // 10:
            raise RuntimeError("%d of %d listeners never served a leaf" % (len(missing), n))
        out.setdefault("part2_excluded", missing)
        keep = [i for i, port in enumerate(sc_ports) if port in seen]
        names = [names[i] for i in keep]
        proxies = [proxies[i] for i in keep]
        sc_ports = [sc_ports[i] for i in keep]
        n = len(keep)
    up = sorted(v - t_start for v in seen.values())
    print("every listener serving its leaf %.2f s after the first proxy started (first %.2f s, "
          "median %.2f s)" % (up[-1], up[0], statistics.median(up)), flush=True)
    # Let the start-up settle before measuring memory and rotating.
    time.sleep(2)
    mem_before = {"agent": proc_status(agent.p.pid),
                  "proxies": rss_summary([p.pid for p in proxies])}
    print("RSS with %d sidecars: agent VmRSS %d kB (VmHWM %d kB, %d threads); proxies VmRSS "
          "total %.1f MB, mean %.0f kB, max %d kB, VmHWM max %d kB"
          % (n, mem_before["agent"].get("VmRSS", 0), mem_before["agent"].get("VmHWM", 0),
             mem_before["agent"].get("Threads", 0), mem_before["proxies"]["rss_total_kb"] / 1024,
             mem_before["proxies"]["rss_mean_kb"], mem_before["proxies"]["rss_max_kb"],
             mem_before["proxies"]["hwm_max_kb"]), flush=True)

    results = []
    for k, target in enumerate(args.rotate_to.split(",")):
        if k:
            time.sleep(2)  # let the previous rotation's last answers settle
        print("-- rotation to %s" % target, flush=True)
        roots = agent.json("GET", "/v1/connect/ca/roots")
        old_root = roots["ActiveRootID"]
        agent_log_from = len(read_log(agent.p))
        conf = agent.json("GET", "/v1/connect/ca/configuration")
        cfg = dict(conf.get("Config") or {})
        old_type, old_bits = cfg.get("PrivateKeyType", "ec"), cfg.get("PrivateKeyBits", 256)
        new_type, new_bits = target.split("-")
        new_bits = int(new_bits)
        if (new_type, new_bits) == (old_type, old_bits):
            raise RuntimeError("--rotate-to %s equals the current key type" % target)
        cfg["PrivateKeyType"], cfg["PrivateKeyBits"] = new_type, new_bits
        if args.csr_max_per_second is not None:
            cfg["CSRMaxPerSecond"] = args.csr_max_per_second
        csr_rate = cfg.get("CSRMaxPerSecond")
        cpu_proxies0 = sum(cpu_seconds(p.pid) for p in proxies)
        cpu_agent1 = cpu_seconds(agent.p.pid)
        if k == 0:
            print("agent CPU while the proxies started: %.2f s" % (cpu_agent1 - cpu_agent0))
        t0 = now()
        t0_wall = time.time()
        status, _, body = agent.call("PUT", "/v1/connect/ca/configuration",
                                     {"Provider": conf.get("Provider", "consul"), "Config": cfg})
        t_put = now()
        if status != 200:
            raise RuntimeError("CA configuration: %d %s" % (status, body[:300]))

        def new_root():
            r = agent.json("GET", "/v1/connect/ca/roots")
            return r if r["ActiveRootID"] != old_root else None
        roots = wait_until(new_root, 30, "a new active root")
        t_root = now()
        new = next(r for r in roots["Roots"] if r["ID"] == roots["ActiveRootID"])
        new_kid = key_id(new["SigningKeyID"])
        seen = poll_all(sc_ports, lambda der: authority_key_id(der) == new_kid, args.timeout,
                        threads=args.poll_threads, pause=args.poll_pause)
        cpu_agent2 = cpu_seconds(agent.p.pid)
        cpu_proxies1 = sum(cpu_seconds(p.pid) for p in proxies)
        mem_after = {"agent": proc_status(agent.p.pid),
                     "proxies": rss_summary([p.pid for p in proxies])}
        times = sorted((v - t0) * 1e3 for v in seen.values())
        res = {
            "sidecars": n, "rotated": "%s-%s -> %s-%s" % (old_type, old_bits, new_type, new_bits),
            "csr_max_per_second": csr_rate, "old_root": old_root, "new_root": roots["ActiveRootID"],
            "put_ms": (t_put - t0) * 1e3, "new_root_visible_ms": (t_root - t0) * 1e3,
            "served": len(seen), "first_ms": times[0] if times else None,
            "p50_ms": pct(times, 50), "p90_ms": pct(times, 90), "p99_ms": pct(times, 99),
            "last_ms": times[-1] if times else None, "all_ms": [round(x, 1) for x in times],
            "startup_all_serving_s": up[-1],
            "agent_cpu_startup_s": cpu_agent1 - cpu_agent0 if k == 0 else None,
            "agent_cpu_rotation_s": cpu_agent2 - cpu_agent1,
            "proxies_cpu_rotation_s": cpu_proxies1 - cpu_proxies0,
            "mem_before": mem_before, "mem_after": mem_after, "loadavg_end": load()}
        print("rotation %s (CSRMaxPerSecond %s): PUT answered %.0f ms, new root listed %.0f ms after "
              "T0" % (res["rotated"], csr_rate, res["put_ms"], res["new_root_visible_ms"]))
        if times:
            print("listeners serving a leaf of the new root: %d of %d; first %.0f ms, p50 %.0f, p90 "
                  "%.0f, last %.0f ms after T0" % (len(seen), n, times[0], res["p50_ms"],
                                                   res["p90_ms"], times[-1]))
            hist = {}
            for x in times:
                b = int(x // 250) * 250
                hist[b] = hist.get(b, 0) + 1
            print("  distribution (250 ms bins from T0): " +
                  ", ".join("%d-%d ms: %d" % (b, b + 250, c) for b, c in sorted(hist.items())))
        print("CPU during the rotation: agent %.2f s, %d proxies %.2f s"
              % (res["agent_cpu_rotation_s"], n, res["proxies_cpu_rotation_s"]))
        print("RSS after: agent VmRSS %d kB (VmHWM %d kB); proxies total %.1f MB, max %d kB "
              "(load %s)" % (mem_after["agent"].get("VmRSS", 0), mem_after["agent"].get("VmHWM", 0),
                             mem_after["proxies"]["rss_total_kb"] / 1024,
                             mem_after["proxies"]["rss_max_kb"], load()), flush=True)
        stages = log_stages(agent, proxies, names, t0_wall)
        res["stages_ms"] = stages
        for what, key in (("agent compiled the config with the new leaf", "agent_leaf_config"),
                          ("proxy applied it", "proxy_applied")):
            v = sorted(x for x in stages[key] if x is not None)
            if v:
                print("  %s (from the logs, ms after T0): first %.0f, p50 %.0f, last %.0f (%d)"
                      % (what, v[0], pct(v, 50), v[-1], len(v)))
        if stages["renew_logged"] is not None:
            print("  agent's leaf cache saw the new root %.0f ms after T0" % stages["renew_logged"])
        log = read_log(agent.p)[agent_log_from:]
        renew = [l for l in log.splitlines() if "renewing" in l or "Rate limit" in l]
        res["agent_log_lines"] = renew[:20]
        res["rate_limited_lines"] = sum(1 for l in log.splitlines() if "Rate limit" in l)
        print("agent log: %d line(s) about rate-limited signing; %s" % (
            res["rate_limited_lines"], renew[0].strip() if renew else "no renewal line"), flush=True)
        results.append(res)
        out["part2"] = results
        if len(seen) < n:
            raise RuntimeError("%d of %d listeners never served the new root's leaf within %.0f s"
                               % (n - len(seen), n, args.timeout))
    out["part2"] = results


# ---- part 3


def authorized_probe(ctx, port, sni, timeout=5):
    """True when the listener at `port` lets a connection with ctx's client certificate through
    to its app (an HTTP answer comes back), False when it closes it (refused), None on errors
    that say neither (connect refused, timeouts)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                t.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while len(data) < 8:
                    chunk = t.recv(64)
                    if not chunk:
                        break
                    data += chunk
                return data.startswith(b"HTTP/1.")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False
    except (OSError, ValueError):
        return None


def poll_probe(targets, want, ctx, timeout, threads=2, pause=0.02):
    """Probes every (port, sni) until authorized_probe(...) == want; returns {port: monotonic
    time first seen}."""
    seen = poll_until(targets, lambda t: authorized_probe(ctx, t[0], t[1]) == want, timeout,
                      threads, pause)
    return {port: t for (port, _), t in seen.items()}


def applied_after(proxies, t0_wall):
    """Per proxy: ms after T0 of the first 'applied config version' logged at or after T0."""
    out = []
    for p in proxies:
        first = None
        for line in read_log(p).splitlines():
            t = log_time(line)
            if t is not None and t >= t0_wall - 0.0005 and "applied config version" in line:
                first = (t - t0_wall) * 1e3
                break
        out.append(first)
    return out


def part3(args, procs, out):
    """Intention changes (the intentions API and a config write of service-intentions) until
    every one of N destination sidecars enforces them, probed with the source's own certificate."""
    n = args.sidecars
    print("== part 3: intention change -> enforcement in %d sidecars (load %s)" % (n, load()),
          flush=True)
    agent = Agent(procs, args.gangway, "p3-agent")
    app = App("app")
    ports = free_ports(n)
    names = ["dst-%03d" % i for i in range(n)]
    for i, name in enumerate(names):
        agent.json("PUT", "/v1/agent/service/register", {
            "Name": name, "ID": name, "Port": app.port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {"Port": ports[i], "Address": "127.0.0.1"}}})
    agent.json("PUT", "/v1/agent/service/register", {"Name": "web", "ID": "web", "Port": 1})
    roots = agent.json("GET", "/v1/connect/ca/roots")
    td = roots["TrustDomain"]
    leaf = agent.json("GET", "/v1/agent/connect/ca/leaf/web")
    workdir = procs.workdir
    with open(os.path.join(workdir, "web.pem"), "w") as f:
        f.write(leaf["CertPEM"])
    with open(os.path.join(workdir, "web-key.pem"), "w") as f:
        f.write(leaf["PrivateKeyPEM"])
    with open(os.path.join(workdir, "roots.pem"), "w") as f:
        f.write("".join(r["RootCert"] for r in roots["Roots"]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(workdir, "roots.pem"))
    ctx.load_cert_chain(os.path.join(workdir, "web.pem"), os.path.join(workdir, "web-key.pem"))
    targets = [(ports[i], "%s.default.dc1.internal.%s" % (name, td))
               for i, name in enumerate(names)]

    t = now()
    proxies = [agent.start_proxy(procs, "p3-%s-proxy" % name, name) for name in names]
    seen = poll_probe(targets, True, ctx, args.timeout)
    if len(seen) < n:
        raise RuntimeError("%d of %d sidecars never let web through (default allow)" %
                           (n - len(seen), n))
    print("%d sidecars up and letting web through %.2f s after the first started" %
          (n, now() - t), flush=True)
    time.sleep(2)

    steps = [
        ("intention create -deny web '*' (PUT /v1/connect/intentions/exact)", False,
         lambda: agent.call("PUT", "/v1/connect/intentions/exact?source=web&destination=*",
                            {"SourceName": "web", "DestinationName": "*", "Action": "deny"})),
        ("intention delete web '*' (DELETE /v1/connect/intentions/exact)", True,
         lambda: agent.call("DELETE", "/v1/connect/intentions/exact?source=web&destination=*")),
        ("config write service-intentions '*' with web deny (PUT /v1/config)", False,
         lambda: agent.call("PUT", "/v1/config", {
             "Kind": "service-intentions", "Name": "*",
             "Sources": [{"Name": "web", "Action": "deny"}]})),
        ("config delete service-intentions '*' (DELETE /v1/config)", True,
         lambda: agent.call("DELETE", "/v1/config/service-intentions/*")),
    ]
    results = []
    for what, want, change in steps:
        time.sleep(1)
        t0, t0_wall = now(), time.time()
        status, _, body = change()
        t_put = now()
        if status != 200:
            raise RuntimeError("%s: %d %s" % (what, status, body[:300]))
        seen = poll_probe(targets, want, ctx, args.timeout, threads=args.poll_threads)
        times = sorted((v - t0) * 1e3 for v in seen.values())
        applied = sorted(x for x in applied_after(proxies, t0_wall) if x is not None)
        res = {"change": what, "sidecars": n, "enforced": len(seen),
               "write_ms": (t_put - t0) * 1e3, "first_ms": times[0] if times else None,
               "p50_ms": pct(times, 50), "p90_ms": pct(times, 90),
               "last_ms": times[-1] if times else None,
               "applied_p50_ms": pct(applied, 50) if applied else None,
               "applied_last_ms": applied[-1] if applied else None,
               "applied_n": len(applied), "loadavg_end": load()}
        results.append(res)
        print("%s: write answered in %.0f ms; enforced by %d of %d sidecars: first %.0f ms, p50 "
              "%.0f, p90 %.0f, last %.0f ms after T0; from the proxies' logs: applied p50 %s, "
              "last %s ms (%d)" % (
                  what, res["write_ms"], len(seen), n, res["first_ms"] or -1, res["p50_ms"] or -1,
                  res["p90_ms"] or -1, res["last_ms"] or -1,
                  "%.0f" % res["applied_p50_ms"] if applied else "-",
                  "%.0f" % res["applied_last_ms"] if applied else "-", len(applied)),
              flush=True)
        out["part3"] = results
        if len(seen) < n:
            raise RuntimeError("%d of %d sidecars did not enforce '%s' within %.0f s" %
                               (n - len(seen), n, what, args.timeout))
    app.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gangway", default="build/tools/gangway")
    ap.add_argument("--part", choices=["1", "2", "3", "all"], default="all")
    ap.add_argument("--repeats", type=int, default=5, help="part 1: new instances")
    ap.add_argument("--rate", type=float, default=200, help="part 1: requests per second")
    ap.add_argument("--sidecars", type=int, default=100, help="parts 2 and 3: services with a sidecar")
    ap.add_argument("--rotate-to", default="ec-384,ec-256",
                    help="part 2: the rotations, in order: new root key type-bits (ec-256, "
                    "ec-384, rsa-2048), comma-separated")
    ap.add_argument("--csr-max-per-second", type=float, default=None,
                    help="part 2: CSRMaxPerSecond set with the rotation (default: left as is)")
    ap.add_argument("--timeout", type=float, default=120, help="part 2: per-phase bound, s")
    ap.add_argument("--poll-threads", type=int, default=2,
                    help="part 2: threads polling the listeners after the rotation")
    ap.add_argument("--poll-pause", type=float, default=0.05,
                    help="part 2: pause between two sweeps of a polling thread, s")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = ap.parse_args()
    args.gangway = os.path.abspath(args.gangway)
    if not os.access(args.gangway, os.X_OK):
        sys.exit("no gangway binary at %s" % args.gangway)
    workdir = tempfile.mkdtemp(prefix="mesh-propagation.")
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": load(),
           "cores": os.cpu_count()}
    try:
        out["version"] = subprocess.run([args.gangway, "version"], capture_output=True,
                                        text=True, timeout=10).stdout.splitlines()[:1]
    except (OSError, subprocess.SubprocessError):
        pass
    print("mesh-propagation %s, %d cores, load %s, logs in %s" % (
        out["started"], os.cpu_count(), out["loadavg"], workdir), flush=True)
    ok = False
    try:
        if args.part in ("1", "all"):
            procs = Processes(workdir)
            try:
                part1(args, procs, out)
            finally:
                procs.stop_all()
        if args.part in ("2", "all"):
            procs = Processes(workdir)
            try:
                part2(args, procs, out)
            finally:
                procs.stop_all()
        if args.part in ("3", "all"):
            procs = Processes(workdir)
            try:
                part3(args, procs, out)
            finally:
                procs.stop_all()
        ok = True
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("logs kept in " + workdir)


if __name__ == "__main__":
    main()
