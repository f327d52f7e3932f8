"""Three datacenters on loopback for cross-datacenter failover: real agents, proxies, gateways.

dc1 is the primary; dc2 and dc3 WAN-join it with primary_datacenter = dc1, so all three share
one trust domain. Each datacenter has one server and one mesh gateway. dc2 and dc3 each run
`api` (an HTTP app answering "api in <dc> <path>") with its sidecar; dc1 runs web's sidecar,
whose upstream `api` names no datacenter and goes through the local gateway (mode local). The
service-resolver a Consul user writes for a service with no local instances sends it on:

    Kind = "service-resolver"  Name = "api"
    Failover = { "*" = { Datacenters = ["dc2", "dc3"] } }

so api's instances in dc1 (none) come first, then dc2's, then dc3's. api's check runs every
second, so the catalog learns of a dead app quickly; the gateways keep their registration's
10 s TCP check. Every port is a free one and every process is stopped by PID.

    mesh = ThreeDcMesh(cleanups).start()   # cleanups: anything with addCleanup(fn, *args)
    mesh.answer()                          # "dc2", "dc3", or None when the request failed
"""

import http.client
import os
import shutil
import signal
import tempfile

from harness import wait_until
from mesh import App, Proxy
from test_connect_ca import DC
from test_raft import free_ports

DATACENTERS = ("dc1", "dc2", "dc3")
API_DCS = ("dc2", "dc3")


def DcApp(dc, port):
    """api's app in `dc`: answers "api in <dc> <path>" on 127.0.0.1:`port`."""
    return App(answer=lambda h: (("api in %s %s\n" % (dc, h.path)).encode(), {}), port=port,
               name="api-" + dc)


class ThreeDcMesh:
    def __init__(self, tc):
        self.tc = tc
        self.root = tempfile.mkdtemp(prefix="gangway-mesh3-")
        tc.addCleanup(shutil.rmtree, self.root, True)
        self.proxies = []
        self.dcs = {}
        self.gateways = {}
        self.gateway_ports = {}
        self.apps = {}

    # ---- start -------------------------------------------------------------------------------

    def start(self):
        dc1 = self.dcs["dc1"] = DC(self.tc, "dc1")
        for dc in API_DCS:
            self.dcs[dc] = DC(self.tc, dc, primary="dc1", wan_join="127.0.0.1:%d" % dc1.wan)
        wait_until(lambda: dc1.active(), timeout=60, msg="dc1's CA root")
        for dc in API_DCS:
            wait_until(lambda dc=dc: (lambda a: a and a["IntermediateCerts"])(
                self.dcs[dc].active()), timeout=90, msg="%s's intermediate from dc1" % dc)
        for dc in DATACENTERS:
            wait_until(lambda dc=dc: sorted(self.server(dc).get("/v1/catalog/datacenters")) ==
                       list(DATACENTERS), timeout=60, msg="%s sees all three datacenters" % dc)

        (self.web_port, self.web_sidecar_port, self.upstream_port, *ports) = free_ports(10)
        for dc in DATACENTERS:
            self.gateway_ports[dc] = ports.pop()
        for dc in API_DCS:
            self.apps[dc] = DcApp(dc, ports.pop())
            self.tc.addCleanup(self.apps[dc].close)
            self.server(dc).put("/v1/agent/service/register", {
                "Name": "api", "Port": self.apps[dc].port, "Address": "127.0.0.1",
                "Check": {"Name": "api answers", "TCP": "127.0.0.1:%d" % self.apps[dc].port,
                          "Interval": "1s"},
                "Connect": {"SidecarService": {"Port": ports.pop(), "Address": "127.0.0.1"}}})
        self.server("dc1").put("/v1/config", {
            "Kind": "service-resolver", "Name": "api",
            "Failover": {"*": {"Datacenters": ["dc2", "dc3"]}}})
        self.server("dc1").put("/v1/agent/service/register", {
            "Name": "web", "Port": self.web_port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {
                "Port": self.web_sidecar_port, "Address": "127.0.0.1", "Proxy": {"Upstreams": [{
                    "DestinationName": "api", "LocalBindAddress": "127.0.0.1",
                    "LocalBindPort": self.upstream_port, "MeshGateway": {"Mode": "local"}}]}}}})

        for dc in DATACENTERS:
            self.start_gateway(dc)
        for dc in API_DCS:
            self.start_proxy(dc, "api-sidecar-" + dc, ["connect", "proxy", "-sidecar-for", "api"])
        self.webp = self.start_proxy("dc1", "web-sidecar",
                                     ["connect", "proxy", "-sidecar-for", "web"])
        for p in self.proxies:
            p.wait_admin()
        for dc in DATACENTERS:
            self.wait_gateway(dc, "passing")
        for dc in API_DCS:
            self.wait_api(dc, "passing")
        return self

    def server(self, dc):
        return self.dcs[dc].server

    def start_gateway(self, dc):
        port = self.gateway_ports[dc]
        self.gateways[dc] = self.start_proxy(dc, "gw-" + dc, [
            "connect", "gateway", "mesh", "-register", "-service", "mesh-gateway",
            "-address", "127.0.0.1:%d" % port, "-wan-address", "127.0.0.1:%d" % port])
        return self.gateways[dc]

    def start_proxy(self, dc, name, args):
        p = Proxy(name, args, self.server(dc).addr, self.root)
        self.tc.addCleanup(p.stop)
        self.proxies.append(p)
        return p

    # ---- what dc1 sees -----------------------------------------------------------------------

    def health(self, path):
        """The aggregate status of each instance of health endpoint `path` as dc1 sees it."""
        out = []
        for entry in self.server("dc1").get(path):
            statuses = [c["Status"] for c in entry["Checks"]]
            worst = "passing"
            for s in ("warning", "critical"):
                if s in statuses:
                    worst = s
            out.append(worst)
        return out

    def wait_gateway(self, dc, status, timeout=60):
        path = "/v1/health/service/mesh-gateway?dc=" + dc
        wait_until(lambda: self.health(path) == [status], timeout=timeout,
                   msg=lambda: "%s's gateway %s in dc1's view: %r" % (dc, status,
                                                                      self.health(path)))

    def wait_api(self, dc, status, timeout=60):
        path = "/v1/health/connect/api?dc=" + dc
        wait_until(lambda: self.health(path) == [status], timeout=timeout,
                   msg=lambda: "api's sidecar in %s %s in dc1's view: %r" % (dc, status,
                                                                              self.health(path)))

    # ---- causes ------------------------------------------------------------------------------

    def kill_app(self, dc):
        self.apps[dc].close()

    def heal_app(self, dc):
        self.apps[dc].start()

    def kill_gateway(self, dc):
        """SIGKILL: the gateway neither drains nor deregisters; its check finds it gone."""
        self.gateways[dc].kill()

    def restart_gateway(self, dc):
        self.start_gateway(dc).wait_admin()

    def kill_server(self, dc):
        """SIGKILL dc's only server: dc1's reads of its catalog fail from now on."""
        agent = self.server(dc)
        os.kill(agent.proc.pid, signal.SIGKILL)
        agent.proc.wait(timeout=10)

    # ---- traffic -----------------------------------------------------------------------------

    def answer(self, path="/", timeout=10):
        """GET `path` through web's upstream on a new connection: the datacenter that answered,
        or None when the request failed."""
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            r = conn.getresponse()
            body = r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        if r.status != 200 or not body.startswith("api in "):
            return None
        dc, got = body.split()[2:4]
        return dc if got == path else None

    def wait_answer(self, dc, timeout=90, path="/"):
        """Waits until three requests in a row are answered by `dc`."""
        streak = [0]

        def settled():
            streak[0] = streak[0] + 1 if self.answer(path) == dc else 0
            return streak[0] >= 3
        wait_until(settled, timeout=timeout, interval=0.1,
                   msg=lambda: "api answers from %s\n%s" % (dc, self.describe()))

    def describe(self):
        return "\n".join(p.describe() for p in self.proxies[-4:])
