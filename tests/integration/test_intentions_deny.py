"""default_intention_policy = "deny" on every agent of the two-datacenter mesh (tests/integration/
mesh.py): web's upstream to api in dc2 is refused at api's sidecar until an allow intention is
written; `intention check` and /v1/agent/connect/authorize say what the sidecar enforces; a
connection established while allowed stays open across unrelated config changes, and deleting
the allow closes it as well as refusing new ones."""

import re
import socket
import time
import unittest

from harness import wait_until
from mesh import MeshTestCase, payload

# Generous: the figure printed is what the change took; the bound only keeps a hung run finite.
APPLY_BOUND = 60


class DefaultDenyTest(MeshTestCase):
    agent_hcl = 'default_intention_policy = "deny"'
    upstream_open = False

    def intention(self, *args):
        r = self.mesh.s1.cli("intention", *args)
        return r.returncode, r.stdout, r.stderr

    def authorize(self, agent):
        web = "spiffe://%s/ns/default/dc/dc1/svc/web" % self.mesh.trust_domain
        status, _, body = agent.json("POST", "/v1/agent/connect/authorize",
                                     {"Target": "api", "ClientCertURI": web})
        self.assertEqual(status, 200, body)
        return body["Authorized"], body["Reason"]

    def open_stream(self, path):
        """A raw connection through web's upstream carrying the start of a request the app waits
        to see the end of: a connection that stays open until one side closes it."""
        s = socket.create_connection(("127.0.0.1", self.mesh.upstream_port), timeout=10)
        s.sendall(("GET %s HTTP/1.1\r\nHost: api\r\n" % path).encode())
        return s

    def finish(self, s, path):
        """Ends the request begun by open_stream and returns (status line, body)."""
        s.sendall(b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0], body

    def closed_by_peer(self, s, timeout):
        """True when the peer closes `s` (EOF or reset) within `timeout` seconds; False when
        the connection is still open then."""
        s.settimeout(timeout)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def applied(self, predicate):
        """Waits until api's sidecar applied a config of dc2's agent whose Authz satisfies
        `predicate`; returns that version."""
        m = self.mesh

        def settled():
            cfg = m.agent_config(m.s2, "api-sidecar-proxy")
            if not predicate(cfg["Authz"]):
                return None
            return cfg["Version"] if m.apip.version() >= cfg["Version"] else None
        return wait_until(settled, timeout=APPLY_BOUND,
                          msg=lambda: "api's sidecar applies the new authz\n" + m.apip.describe())

    def test_default_deny_allow_then_delete(self):
        m = self.mesh
        # Nothing written: the default denies, and every answer says so.
        self.assertEqual(self.intention("check", "web", "api")[:2], (1, "Denied\n"))
        for agent in (m.s1, m.s2):
            self.assertEqual(self.authorize(agent), (False, "Default intention policy"))
        self.applied(lambda authz: authz["DefaultAllow"] is False)
        # Each try is a new connection; the first ones may still find web's sidecar without
        # the route, so wait until one reaches api's sidecar and is refused there.
        refusal = re.compile(r"listener=public_listener peer=\S+ refused: unauthorized: "
                             r"spiffe://\S+/svc/web: no rule matched; default deny")
        line = wait_until(lambda: m.try_fetch("/denied") is None and refusal.search(m.apip.log()),
                          timeout=APPLY_BOUND,
                          msg=lambda: "api's sidecar refuses web\n" + m.describe())
        print("api-sidecar: %s" % line.group(0))
        self.assertEqual(m.app.requests, 0, "a refused connection never reaches the app")

        # An allow lets the next connection through.
        sent = time.monotonic()
        code, out, err = self.intention("create", "-allow", "web", "api")
        written = time.monotonic()
        self.assertEqual((code, out), (0, "Created: web => api (allow)\n"), err)
        wait_until(lambda: m.upstream_works("/allowed"), timeout=APPLY_BOUND, interval=0.02,
                   msg=lambda: "web allowed\n" + m.apip.describe())
        done = time.monotonic()
        print("allow reached new connections %.2f s after the write returned (%.2f s after "
              "`intention create` started)" % (done - written, done - sent))
        self.assertEqual(self.intention("check", "web", "api")[:2], (0, "Allowed\n"))
        for agent in (m.s1, m.s2):
            self.assertEqual(self.authorize(agent),
                             (True, "Matched L4 intention: web => api (allow)"))

        # Two long-lived connections, opened while allowed.
        kept = self.open_stream("/kept")
        doomed = self.open_stream("/doomed")
        # Both reach api's app: as two streams of one multiplexed connection (docs/mux.md), so
        # api's sidecar counts them on its local app cluster.
        wait_until(lambda: m.apip.stats()["Clusters"]["local_app"]["Active"] >= 2,
                   timeout=10, msg=lambda: "both connections reach api's sidecar\n" +
                   m.apip.describe())
        # A config change that still allows web (an intention for another source) leaves them
        # open: the kept one still carries its request and answer afterwards.
        code, out, err = self.intention("create", "-deny", "db", "api")
        self.assertEqual((code, out), (0, "Created: db => api (deny)\n"), err)
        self.applied(lambda authz: any("/svc/db" in r["Source"] for r in authz["Rules"]))
        self.assertFalse(self.closed_by_peer(doomed, 1.0), "an allowed connection stays open")
        self.assertEqual(self.finish(kept, "/kept"), (b"HTTP/1.0 200 OK", payload("/kept")))
        kept.close()

        # Deleting the allow refuses new connections and closes the established one.
        revoked_before = m.apip.stats()["Listeners"]["public_listener"].get(
            "Refused", {}).get("revoked", 0)
        sent = time.monotonic()
        code, out, err = self.intention("delete", "web", "api")
        written = time.monotonic()
        self.assertEqual((code, out), (0, "Intention deleted.\n"), err)
        # The app may see the half-sent request end and answer into the closed socket: that
        # traceback from the app is expected.
        self.assertTrue(self.closed_by_peer(doomed, APPLY_BOUND),
                        "the established connection is closed\n" + m.apip.describe())
        done = time.monotonic()
        print("delete closed the established connection %.2f s after the write returned "
              "(%.2f s after `intention delete` started)" % (done - written, done - sent))
        doomed.close()
        self.assertIsNone(m.try_fetch("/denied-again"))
        self.assertEqual(self.intention("check", "web", "api")[:2], (1, "Denied\n"))
        closed = re.compile(r"listener=public_listener peer=\S+ closed: revoked: "
                            r"spiffe://\S+/svc/web: no rule matched; default deny")
        line = wait_until(lambda: closed.search(m.apip.log()), timeout=10,
                          msg=lambda: "api's sidecar logs the close\n" + m.apip.describe())
        print("api-sidecar: %s" % line.group(0))
        self.assertEqual(len(closed.findall(m.apip.log())), 1, "logged once")
        refused = m.apip.stats()["Listeners"]["public_listener"]["Refused"]
        self.assertEqual(refused.get("revoked", 0), revoked_before + 1, refused)


if __name__ == "__main__":
    unittest.main()
