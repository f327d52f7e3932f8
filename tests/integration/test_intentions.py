"""Intentions enforced at the destination sidecar, across two datacenters (tests/integration/
mesh.py): a deny intention written in dc1 refuses web's connections at api's sidecar in dc2, with
the intention named in its log; replacing it with an allow lets the next connection through; and
`intention check` agrees each time."""

import re
import time
import unittest

from harness import wait_until
from mesh import MeshTestCase


class IntentionsTest(MeshTestCase):

    def intention(self, *args):
        r = self.mesh.s1.cli("intention", *args)
        return r.returncode, r.stdout, r.stderr

    def test_deny_then_allow(self):
        m = self.mesh
        # Nothing written: allowed by default (no ACLs).
        self.assertTrue(m.upstream_works("/before"))
        self.assertEqual(self.intention("check", "web", "api")[:2], (0, "Allowed\n"))

        code, out, err = self.intention("create", "-deny", "web", "api")
        self.assertEqual((code, out), (0, "Created: web => api (deny)\n"), err)
        self.assertEqual(self.intention("check", "web", "api")[:2], (1, "Denied\n"))
        # Without -replace, a second intention for the same pair is refused.
        code, _, err = self.intention("create", "-allow", "web", "api")
        self.assertEqual(code, 1)
        self.assertIn("duplicate intention found: web => api (deny)", err)

        # The entry replicates to dc2, whose agent recompiles api's sidecar: web is refused there.
        start = time.monotonic()
        wait_until(lambda: not m.upstream_works("/denied"), timeout=60,
                   msg=lambda: "web refused once the deny reaches api's sidecar\n" +
                   m.apip.describe())
        print("deny enforced after %.1f s" % (time.monotonic() - start))
        refusal = re.compile(r"listener=public_listener peer=\S+ refused: unauthorized: .*"
                             r"web => api")
        line = wait_until(lambda: refusal.search(m.apip.log()), timeout=10,
                          msg=lambda: "api's sidecar logs the refusal\n" + m.apip.describe())
        print("api-sidecar: %s" % line.group(0))
        served = m.app.requests
        self.assertIsNone(m.try_fetch("/still-denied"))
        self.assertEqual(m.app.requests, served, "a refused connection never reaches the app")

        # Replace with an allow: the next connection goes through within a few seconds.
        code, out, err = self.intention("create", "-allow", "-replace", "web", "api")
        self.assertEqual((code, out), (0, "Created: web => api (allow)\n"), err)
        self.assertEqual(self.intention("check", "web", "api")[:2], (0, "Allowed\n"))
        start = time.monotonic()
        wait_until(lambda: m.upstream_works("/allowed"), timeout=30,
                   msg=lambda: "web allowed again\n" + m.apip.describe())
        elapsed = time.monotonic() - start
        print("allow enforced after %.1f s" % elapsed)
        self.assertLess(elapsed, 15.0)

        # dc2 reads the replicated entry too.
        listed = m.s2.get("/v1/connect/intentions")
        self.assertEqual([(i["SourceName"], i["DestinationName"], i["Action"]) for i in listed],
                         [("web", "api", "allow")])
        code, out, _ = self.intention("delete", "web", "api")
        self.assertEqual((code, out), (0, "Intention deleted.\n"))
        code, _, err = self.intention("list")
        self.assertEqual((code, err), (2, "There are no intentions.\n"))


if __name__ == "__main__":
    unittest.main()
