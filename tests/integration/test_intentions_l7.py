"""L7 intentions enforced per request at the destination sidecar, across two datacenters
(tests/integration/mesh.py) with default_intention_policy = "deny": api is an http service
(service-defaults), and web's intention allows only its /public paths, so a request no permission
matches falls to the default, deny (Consul's rule). api's sidecar in dc2 answers such requests
with Envoy's `403 RBAC: access denied` on the same kept-alive connection; when the entry is
changed to deny web entirely, the next request on that connection gets the 403 too, while new
connections are refused at the handshake."""

import http.client
import re
import time
import unittest

from harness import wait_until
from mesh import MeshTestCase, payload

# Generous: only keeps a hung run finite; the figures printed are what the changes took.
APPLY_BOUND = 60
FORBIDDEN = b"RBAC: access denied"


class L7IntentionsTest(MeshTestCase):
    agent_hcl = 'default_intention_policy = "deny"'
    upstream_open = False

    def write(self, entry):
        self.assertEqual(self.mesh.s1.put("/v1/config", entry), b"true", entry)

    def fetch_status(self, path):
        """GET `path` on a new connection: its status, or None when the connection failed."""
        r = self.mesh.try_fetch(path)
        return None if r is None else r[0]

    def get(self, conn, path):
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()

    def forbidden(self):
        return self.mesh.apip.stats()["Listeners"]["public_listener"]["Refused"].get("forbidden", 0)

    def test_permissions_then_deny_on_a_kept_alive_connection(self):
        m = self.mesh
        self.assertIsNone(m.try_fetch("/before"), "the default denies web")
        self.write({"Kind": "service-defaults", "Name": "api", "Protocol": "http"})
        self.write({"Kind": "service-intentions", "Name": "api", "Sources": [{
            "Name": "web",
            "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/public"}}]}]})
        # The entries replicate to dc2, whose agent recompiles api's sidecar with the permissions.
        start = time.monotonic()
        wait_until(lambda: self.fetch_status("/public/probe") == 200, timeout=APPLY_BOUND,
                   msg=lambda: "api's sidecar lets /public through\n" + m.describe())
        print("L7 permissions enforced after %.1f s" % (time.monotonic() - start))

        conn = http.client.HTTPConnection("127.0.0.1", m.upstream_port, timeout=10)
        self.addCleanup(conn.close)
        served = m.app.requests
        forbidden = self.forbidden()
        self.assertEqual(self.get(conn, "/public/x"), (200, payload("/public/x")))
        self.assertEqual(self.get(conn, "/private"), (403, FORBIDDEN))
        self.assertEqual(self.get(conn, "/public/y"), (200, payload("/public/y")))
        self.assertEqual(self.forbidden(), forbidden + 1)
        local_port = conn.sock.getsockname()[1]
        self.assertEqual(m.app.requests, served + 2, "a denied request never reaches the app")
        denial = re.compile(r"listener=public_listener peer=\S+ forbidden: spiffe://\S+/svc/web "
                            r"GET /private: intention web => api: no permission matched; "
                            r"default deny")
        line = wait_until(lambda: denial.search(m.apip.log()), timeout=10,
                          msg=lambda: "api's sidecar logs the denial\n" + m.apip.describe())
        print("api-sidecar: %s" % line.group(0))

        # web denied outright: new connections are refused at the handshake, and the next request
        # on the kept-alive one is answered 403 (it is not closed).
        self.write({"Kind": "service-intentions", "Name": "api", "Sources": [{
            "Name": "web", "Action": "deny"}]})
        start = time.monotonic()
        wait_until(lambda: self.fetch_status("/refused") is None, timeout=APPLY_BOUND,
                   msg=lambda: "new connections refused once the deny applies\n" + m.describe())
        print("L4 deny enforced after %.1f s" % (time.monotonic() - start))
        served = m.app.requests
        forbidden = self.forbidden()  # the probes above may have met the L7 config still
        self.assertEqual(self.get(conn, "/public/z"), (403, FORBIDDEN))
        self.assertEqual(conn.sock.getsockname()[1], local_port, "the same connection")
        self.assertEqual(m.app.requests, served)
        self.assertEqual(self.forbidden(), forbidden + 1)
        denial = re.compile(r"forbidden: spiffe://\S+/svc/web GET /public/z: intention web => api "
                            r"denies")
        wait_until(lambda: denial.search(m.apip.log()), timeout=10,
                   msg=lambda: "api's sidecar logs the L4 deny per request\n" + m.apip.describe())


if __name__ == "__main__":
    unittest.main()
