"""A two-datacenter mesh on loopback for integration tests: real agents, proxies and gateways.

dc1 and dc2 have one server each, WAN-joined, dc2 with primary_datacenter = dc1 so that both
share one trust domain. Each has a mesh gateway; dc2 runs the `api` app (a Python HTTP server
answering a distinctive payload) with its sidecar, dc1 runs `web`'s sidecar whose upstream
`api` (datacenter dc2) listens on `mesh.upstream_port`. Every port is a free one; each proxy's
admin port is read from its log. Everything is stopped by PID.

    mesh = Mesh(cleanups)          # cleanups: anything with addCleanup(fn, *args)
    mesh.start()
    body = mesh.fetch()            # GET through web's upstream
"""

import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import tempfile
import threading
import unittest

import harness
from harness import _LineCollector, _stop_pid, gangway_bin, wait_until
from test_connect_ca import DC
from test_raft import free_ports

ADMIN_RE = re.compile(r"admin endpoint listening on 127\.0\.0\.1:(\d+)")
APPLIED_RE = re.compile(r"applied config version (\d+)")

# The api app's answer: a few KB that no health check or control-plane answer looks like.
PAYLOAD_SIZE = 6000


def payload(path):
    """The api app's body for `path`: PAYLOAD_SIZE bytes derived from the path."""
    seed = hashlib.sha256(path.encode()).hexdigest().encode()
    body = b"api says hello on " + path.encode() + b"\n"
    while len(body) < PAYLOAD_SIZE:
        seed = hashlib.sha256(seed).hexdigest().encode()
        body += seed + b"\n"
    return body[:PAYLOAD_SIZE]


class App:
    """A threaded HTTP server on 127.0.0.1:`port` (0: a free one) answering every GET with
    answer(handler) -> (body, headers), by default payload(path), and counting the requests.
    close() stops it; start() starts it again on the same port (an app dying and coming back)."""

    def __init__(self, answer=None, port=0, protocol="HTTP/1.0", name="api-app"):
        self.requests = 0
        self.port = port
        self._lock = threading.Lock()
        self._answer = answer or (lambda handler: (
            payload(handler.path), {"Content-Type": "application/octet-stream"}))
        self._protocol = protocol
        self._name = name
        self._server = None
        self.start()

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = owner._protocol

            def do_GET(self):
                with owner._lock:
                    owner.requests += 1
                body, headers = owner._answer(self)
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="%s-%d" % (self._name, self.port))
        self._thread.start()

    def close(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)
        self._server = None


class Proxy:
    """One `gangway connect proxy` / `connect gateway mesh` process; its log is kept in memory."""

    def __init__(self, name, args, http_addr, workdir):
        self.name = name
        self.argv = [gangway_bin()] + list(args) + [
            "-http-addr", http_addr, "-admin-bind", "127.0.0.1:0", "-workers", "1",
            "-drain-timeout", "1s"]
        env = dict(os.environ)
        for k in ("CONSUL_HTTP_ADDR", "GANGWAY_HTTP_ADDR"):
            env.pop(k, None)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=workdir, env=env)
        self.pid = self.proc.pid
        with harness._live_lock:
            harness._live_agents.add(self)
        self._err = _LineCollector(self.proc.stderr, "%s-stderr" % name)
        self._out = _LineCollector(self.proc.stdout, "%s-stdout" % name)
        self.admin = None

    def log(self):
        return self._out.text() + "\n" + self._err.text()

    def describe(self):
        return "--- %s (pid %d): %s ---\n%s\n--- end %s ---" % (
            self.name, self.pid, " ".join(self.argv), self.log(), self.name)

    def wait_admin(self, timeout=30):
        def port():
            if self.proc.poll() is not None:
                # Not an AssertionError: wait_until would keep waiting on a dead process.
                raise RuntimeError("%s exited with %s\n%s" % (self.name, self.proc.returncode,
                                                               self.describe()))
            m = ADMIN_RE.search(self._err.text())
            return int(m.group(1)) if m else None
        self.admin = wait_until(port, timeout=timeout, msg=lambda: self.describe())
        return self.admin

    def stats(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        try:
            conn.request("GET", "/stats")
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise AssertionError("%s /stats -> %d: %r" % (self.name, r.status, body[:200]))
            return json.loads(body)
        finally:
            conn.close()

    def version(self):
        """The config version last applied, from the log (0 before the first)."""
        found = APPLIED_RE.findall(self._err.text())
        return int(found[-1]) if found else 0

    def kill(self):
        """SIGKILL, by PID: the process dies without draining or deregistering."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            _stop_pid(self.proc)
        for c in (self._err, self._out):
            c.join()
        for f in (self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()
        with harness._live_lock:
            harness._live_agents.discard(self)


class Cleanups:
    """addCleanup for fixtures that outlive one test (setUpClass): run by close(), last first."""

    def __init__(self):
        self._fns = []

    def addCleanup(self, fn, *args, **kwargs):
        self._fns.append((fn, args, kwargs))

    def close(self):
        errors = []
        while self._fns:
            fn, args, kwargs = self._fns.pop()
            try:
                fn(*args, **kwargs)
            except Exception as e:  # keep cleaning; report the first failure at the end
                errors.append(e)
        if errors:
            raise errors[0]


def listener_bytes(stats, name):
    """BytesIn + BytesOut of one listener (0 when the listener does not exist)."""
    lst = stats["Listeners"].get(name)
    return (lst["BytesIn"] + lst["BytesOut"]) if lst else 0


class Mesh:
    def __init__(self, tc):
        self.tc = tc
        self.root = tempfile.mkdtemp(prefix="gangway-mesh-")
        tc.addCleanup(shutil.rmtree, self.root, True)
        self.proxies = []
        self.gateways2 = []  # dc2's gateways, in start order

    # ---- start -------------------------------------------------------------------------------

    def start(self, mode="local", agent_hcl="", upstream_open=True):
        """Starts both datacenters, each server with `agent_hcl` in its configuration, and waits
        until web's upstream answers (`upstream_open`) or, when intentions deny it, until every
        hop is up and healthy."""
        self.dc1 = DC(self.tc, "dc1", extra_hcl=agent_hcl)
        self.dc2 = DC(self.tc, "dc2", primary="dc1", wan_join="127.0.0.1:%d" % self.dc1.wan,
                      extra_hcl=agent_hcl)
        self.s1, self.s2 = self.dc1.server, self.dc2.server
        # Both datacenters see each other, and dc2 has its intermediate under dc1's root.
        wait_until(lambda: self.dc1.active(), timeout=60, msg="dc1's CA root")
        wait_until(lambda: (lambda a: a and a["IntermediateCerts"])(self.dc2.active()),
                   timeout=90, msg="dc2's intermediate from dc1")
        for s in (self.s1, self.s2):
            wait_until(lambda s=s: sorted(s.get("/v1/catalog/datacenters")) == ["dc1", "dc2"],
                       timeout=60, msg="both datacenters in the WAN pool")
        self.trust_domain = self.dc1.roots()["TrustDomain"]

        self.app = App()
        self.tc.addCleanup(self.app.close)
        (self.api_sidecar_port, self.web_sidecar_port, self.upstream_port, self.gw1_port,
         self.gw2_port, self.web_port) = free_ports(6)
        self.register_api()
        self.register_web(mode)

        self.gw1 = self.start_gateway(self.s1, "gw1", "mesh-gateway", self.gw1_port)
        self.gw2 = self.start_gateway(self.s2, "gw2", "mesh-gateway", self.gw2_port)
        self.apip = self.start_proxy(self.s2, "api-sidecar",
                                     ["connect", "proxy", "-sidecar-for", "api"])
        self.webp = self.start_proxy(self.s1, "web-sidecar",
                                     ["connect", "proxy", "-sidecar-for", "web"])
        for p in self.proxies:
            p.wait_admin()

        # Routing needs healthy endpoints: both gateways seen passing from the other side, and the
        # api sidecar passing in dc2 (their TCP checks run every 10 s).
        self.wait_gateways(self.s1, "dc2", 1)
        self.wait_gateways(self.s2, "dc1", 1)
        wait_until(lambda: len(self.s2.get("/v1/health/connect/api?passing")) == 1, timeout=60,
                   msg="api's sidecar passing in dc2")
        if upstream_open:
            wait_until(self.upstream_works, timeout=60, msg=self.describe)
        return self

    def register_api(self):
        self.s2.put("/v1/agent/service/register", {
            "Name": "api", "Port": self.app.port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {"Port": self.api_sidecar_port, "Address": "127.0.0.1"}}})

    def register_web(self, mode):
        """(Re-)registers web with its upstream api in dc2 through mesh gateway `mode`."""
        self.s1.put("/v1/agent/service/register", {
            "Name": "web", "Port": self.web_port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {
                "Port": self.web_sidecar_port, "Address": "127.0.0.1", "Proxy": {"Upstreams": [{
                "DestinationName": "api", "Datacenter": "dc2",
                "LocalBindAddress": "127.0.0.1", "LocalBindPort": self.upstream_port,
                "MeshGateway": {"Mode": mode}}]}}}})

    def start_gateway(self, server, name, service, port, proxy_id=None):
        args = ["connect", "gateway", "mesh", "-register", "-service", service,
                "-address", "127.0.0.1:%d" % port, "-wan-address", "127.0.0.1:%d" % port]
        if proxy_id:
            args += ["-proxy-id", proxy_id]
        p = self.start_proxy(server, name, args)
        if server is self.s2:
            self.gateways2.append(p)
        return p

    def start_proxy(self, server, name, args):
        p = Proxy(name, args, server.addr, self.root)
        self.tc.addCleanup(p.stop)
        self.proxies.append(p)
        return p

    # ---- health ------------------------------------------------------------------------------

    def gateway_health(self, server, dc):
        """{service ID: aggregate status} of the mesh gateways of `dc`, as `server` sees them."""
        out = {}
        for entry in server.get("/v1/health/service/mesh-gateway?dc=%s" % dc):
            statuses = [c["Status"] for c in entry["Checks"]]
            worst = "passing"
            for s in ("warning", "critical"):
                if s in statuses:
                    worst = s
            out[entry["Service"]["ID"]] = worst
        return out

    def wait_gateways(self, server, dc, n, timeout=60):
        wait_until(lambda: list(self.gateway_health(server, dc).values()).count("passing") == n,
                   timeout=timeout,
                   msg=lambda: "%d passing gateways of %s: %r" % (n, dc,
                                                                  self.gateway_health(server, dc)))

    # ---- compiled config ---------------------------------------------------------------------

    def agent_config(self, server, proxy_id):
        """The config `server`'s agent compiled for `proxy_id` (its current version, at once)."""
        return server.get("/v1/agent/connect/proxy/" + proxy_id)

    def cluster_endpoints(self, server, proxy_id, prefix):
        """(version, [(port, health)]) of the first cluster of `proxy_id` named `prefix`..."""
        cfg = self.agent_config(server, proxy_id)
        for c in cfg["Clusters"]:
            if c["Name"].startswith(prefix):
                return cfg["Version"], [(e["Port"], e["Health"]) for e in c["Endpoints"]]
        return cfg["Version"], None

    def wait_applied(self, proxy, server, proxy_id, prefix, want, timeout=60):
        """Waits until `server` compiled endpoints `want` ([(port, health)], any order) for
        `proxy_id`'s cluster `prefix`..., and `proxy` applied that version or a later one."""
        def settled():
            version, endpoints = self.cluster_endpoints(server, proxy_id, prefix)
            if endpoints is None or sorted(endpoints) != sorted(want):
                return None
            return version if proxy.version() >= version else None
        return wait_until(settled, timeout=timeout,
                          msg=lambda: "%s: endpoints %r applied (now %r)" % (
                              proxy.name, want, self.cluster_endpoints(server, proxy_id, prefix)))

    def set_mode(self, mode, want=None, timeout=60):
        """Re-registers web with upstream mode `mode` and waits until its sidecar applied it: the
        api cluster's endpoints are `want` ([(port, health)]), by default the one passing gw1
        (local), gw2 (remote) or api sidecar (none)."""
        if want is None:
            want = [({"local": self.gw1_port, "remote": self.gw2_port,
                      "none": self.api_sidecar_port}[mode], "passing")]
        self.register_web(mode)
        self.wait_applied(self.webp, self.s1, "web-sidecar-proxy", "api.default.dc2.", want,
                          timeout=timeout)

    # ---- traffic -----------------------------------------------------------------------------

    def fetch(self, path="/", timeout=10):
        """GET `path` through web's upstream on a new connection; returns (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def try_fetch(self, path="/"):
        """fetch(), with a failure (reset, closed, timed out) returned as None."""
        try:
            status, body = self.fetch(path)
        except (OSError, http.client.HTTPException):
            return None
        return (status, body)

    def upstream_works(self, path="/ready-check"):
        r = self.try_fetch(path)
        return r is not None and r == (200, payload(path))

    def describe(self):
        return "upstream through web's sidecar does not answer\n" + "\n".join(
            p.describe() for p in self.proxies)


class MeshTestCase(unittest.TestCase):
    """One mesh per class, started in setUpClass (it takes a while) and stopped by PID after.
    A class may set `agent_hcl` (added to both servers' configuration) and `upstream_open`
    (False when that configuration denies web's upstream from the start)."""

    agent_hcl = ""
    upstream_open = True

    @classmethod
    def setUpClass(cls):
        cls.cleanups = Cleanups()
        try:
            cls.mesh = Mesh(cls.cleanups).start(agent_hcl=cls.agent_hcl,
                                                upstream_open=cls.upstream_open)
        except BaseException:
            cls.cleanups.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cleanups.close()
