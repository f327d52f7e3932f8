"""Resolver subsets across datacenters (tests/integration/mesh.py's two-datacenter mesh): a
service-resolver for `api` with subsets by Service.Meta.version makes web's upstream (api in dc2,
through both gateways) send the subset's SNI; dc2's gateway serves that SNI with the instances
the subset selects, and none when no instance matches."""

import unittest

from harness import wait_until
from mesh import MeshTestCase, payload


class RemoteSubsetTest(MeshTestCase):

    def resolver(self, default_subset):
        return {"Kind": "service-resolver", "Name": "api", "DefaultSubset": default_subset,
                "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"},
                            "v2": {"Filter": "Service.Meta.version == v2"}}}

    def gateway_clusters(self):
        """Cluster name -> endpoint count of dc2's gateway, as dc2's agent compiled it."""
        cfg = self.mesh.agent_config(self.mesh.s2, self.gw2_id)
        return {c["Name"]: len(c.get("Endpoints") or []) for c in cfg["Clusters"]}

    def test_the_remote_gateway_serves_the_subset_sni(self):
        m = self.mesh
        td = m.trust_domain
        v1 = "v1.api.default.dc2.internal." + td
        v2 = "v2.api.default.dc2.internal." + td
        gateways = m.s2.get("/v1/agent/services?filter=Kind%20%3D%3D%20%22mesh-gateway%22")
        self.assertEqual(len(gateways), 1, gateways)
        self.gw2_id = next(iter(gateways))

        # api's sidecar carries version v1 (subset filters see the sidecar's registration).
        m.s2.put("/v1/agent/service/register", {
            "Name": "api", "Port": m.app.port, "Address": "127.0.0.1",
            "Connect": {"SidecarService": {"Port": m.api_sidecar_port, "Address": "127.0.0.1",
                                           "Meta": {"version": "v1"}}}})
        self.assertEqual(m.s1.put("/v1/config", self.resolver("v1")), b"true")
        wait_until(lambda: self.gateway_clusters().get(v1) == 1 and
                   self.gateway_clusters().get(v2) == 0, timeout=60,
                   msg=lambda: "dc2's gateway has the subsets' clusters: %r" %
                   self.gateway_clusters())
        wait_until(lambda: m.try_fetch("/subset-v1") == (200, payload("/subset-v1")), timeout=60,
                   msg=lambda: "api's v1 subset in dc2 through both gateways\n" + m.describe())
        sni = m.agent_config(m.s1, "web-sidecar-proxy")["Clusters"]
        self.assertIn(v1, [c.get("SNI") for c in sni])

        # No instance is v2: dc2's gateway has nothing to send that SNI to.
        self.assertEqual(m.s1.put("/v1/config", self.resolver("v2")), b"true")
        wait_until(lambda: v2 in [c.get("SNI") for c in
                                  m.agent_config(m.s1, "web-sidecar-proxy")["Clusters"]],
                   timeout=60, msg="web's sidecar sends the v2 subset's SNI")
        version = m.agent_config(m.s1, "web-sidecar-proxy")["Version"]
        wait_until(lambda: m.webp.version() >= version, timeout=60,
                   msg=lambda: "web's sidecar applies version %d" % version)
        got = m.try_fetch("/subset-v2")
        self.assertTrue(got is None or got[0] != 200, got)


if __name__ == "__main__":
    unittest.main()
