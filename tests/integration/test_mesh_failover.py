"""Cross-datacenter failover end to end, on three datacenters (tests/integration/mesh3.py): web
in dc1 reaches api through a resolver failing over to dc2 then dc3. Traffic leaves dc2 when its
api instance dies, when its mesh gateway dies, and when the whole datacenter (server and gateway)
is gone, and comes back to dc2 when it heals (docs/proxycfg.md and docs/proxy.md, "Failover")."""

import unittest

from mesh import Cleanups
from mesh3 import ThreeDcMesh


class CrossDatacenterFailoverTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cleanups = Cleanups()
        try:
            cls.mesh = ThreeDcMesh(cls.cleanups).start()
        except BaseException:
            cls.cleanups.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cleanups.close()

    def test_failover_and_back(self):
        m = self.mesh
        m.wait_answer("dc2")

        # dc2's api dies. Its gateway stays healthy, so only the target's own health can tell:
        # dc1 sees api's sidecar critical (the aliasing check) and the traffic goes to dc3.
        m.kill_app("dc2")
        m.wait_api("dc2", "critical")
        m.wait_answer("dc3")
        m.heal_app("dc2")
        m.wait_api("dc2", "passing")
        m.wait_answer("dc2")

        # dc2's gateway dies. Until its check notices, dc1's gateway cannot reach it and closes
        # the connection; web's sidecar moves on to dc3 within the same connection: no request
        # fails, before or after the catalog's news.
        m.kill_gateway("dc2")
        for i in range(10):
            path = "/gateway-dead-%d" % i
            self.assertEqual(m.answer(path), "dc3", path + "\n" + m.describe())
        m.wait_gateway("dc2", "critical")
        self.assertEqual(m.answer("/gateway-critical"), "dc3")
        m.restart_gateway("dc2")
        m.wait_gateway("dc2", "passing")
        m.wait_answer("dc2")

        # dc2 unreachable: its server and its gateway gone. dc1 can no longer read dc2's catalog
        # (it keeps what it last read: all healthy), so only failing connections can tell.
        ejections = m.webp.log().count("ejected after")
        m.kill_server("dc2")
        m.kill_gateway("dc2")
        for i in range(10):
            path = "/dc2-gone-%d" % i
            self.assertEqual(m.answer(path), "dc3", path + "\n" + m.describe())
        # After two failures web's sidecar stopped trying dc2 for a while.
        self.assertGreater(m.webp.log().count("ejected after"), ejections, m.webp.describe())


if __name__ == "__main__":
    unittest.main()
