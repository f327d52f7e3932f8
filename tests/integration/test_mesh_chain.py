"""Discovery chains on the two-datacenter mesh (tests/integration/mesh.py): a service-resolver
written in dc1 that redirects `api` to dc2 makes an upstream naming no datacenter reach api in
dc2, through the gateways, and /v1/discovery-chain shows the chain the sidecar follows."""

import unittest

from harness import wait_until
from mesh import MeshTestCase, payload
from test_raft import free_ports


class ResolverRedirectTest(MeshTestCase):

    def register_web(self, port):
        """web with two upstreams: the mesh's own (api in dc2) and `api` in no datacenter."""
        m = self.mesh
        upstream = {"LocalBindAddress": "127.0.0.1", "MeshGateway": {"Mode": "local"}}
        m.s1.put("/v1/agent/service/register", {
            "Name": "web", "Port": m.web_port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {
                "Port": m.web_sidecar_port, "Address": "127.0.0.1", "Proxy": {"Upstreams": [
                    dict(upstream, DestinationName="api", Datacenter="dc2",
                         LocalBindPort=m.upstream_port),
                    dict(upstream, DestinationName="api", LocalBindPort=port)]}}}})

    def upstream_clusters(self):
        """{listener name: its cluster} of web's sidecar as the dc1 agent compiled it."""
        cfg = self.mesh.agent_config(self.mesh.s1, "web-sidecar-proxy")
        return {l["Name"]: l["FilterChains"][0].get("Cluster")
                for l in cfg["Listeners"] if l["Name"].startswith("upstream:")}

    def test_redirect_to_dc2(self):
        m = self.mesh
        (port,) = free_ports(1)
        td = m.trust_domain
        in_dc1 = "api.default.dc1.internal." + td
        in_dc2 = "api.default.dc2.internal." + td

        # Without entries the new upstream is api in dc1, where nothing runs.
        self.register_web(port)
        wait_until(lambda: self.upstream_clusters().get("upstream:api") == in_dc1, timeout=60,
                   msg=lambda: "web's upstream api in dc1: %r" % self.upstream_clusters())
        chain = m.s1.get("/v1/discovery-chain/api")["Chain"]
        self.assertEqual(chain["StartNode"], "resolver:api.default.default.dc1")

        self.assertEqual(m.s1.put("/v1/config", {
            "Kind": "service-resolver", "Name": "api", "Redirect": {"Datacenter": "dc2"}}),
            b"true")
        chain = m.s1.get("/v1/discovery-chain/api")["Chain"]
        self.assertEqual(chain["StartNode"], "resolver:api.default.default.dc2")
        self.assertEqual(chain["Targets"]["api.default.default.dc2"]["SNI"], in_dc2)

        wait_until(lambda: self.upstream_clusters().get("upstream:api") == in_dc2, timeout=60,
                   msg=lambda: "web's upstream api redirected to dc2: %r" %
                   self.upstream_clusters())
        version = m.agent_config(m.s1, "web-sidecar-proxy")["Version"]
        wait_until(lambda: m.webp.version() >= version, timeout=60,
                   msg=lambda: "web's sidecar applies version %d" % version)

        def through_new_upstream():
            saved = m.upstream_port
            m.upstream_port = port
            try:
                return m.try_fetch("/redirected")
            finally:
                m.upstream_port = saved
        wait_until(lambda: through_new_upstream() == (200, payload("/redirected")), timeout=60,
                   msg=lambda: "api in dc2 through the redirected upstream\n" + m.describe())
        served = m.app.requests
        self.assertEqual(through_new_upstream(), (200, payload("/redirected")))
        self.assertEqual(m.app.requests, served + 1)


if __name__ == "__main__":
    unittest.main()
