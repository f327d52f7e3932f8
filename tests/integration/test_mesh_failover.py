"""Cross-datacenter failover end to end, on three datacenters (tests/integration/mesh3.py): web
in dc1 reaches api through a resolver failing over to dc2 then dc3. Traffic leaves dc2 when its
api instance dies, when its mesh gateway dies, and when the whole datacenter (server and gateway)
is gone, and comes back to dc2 when it heals (docs/proxycfg.md and docs/proxy.md, "Failover")."""

import unittest

from harness import wait_until
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

    def wait_mux_closed(self, dc):
        """Waits until web's sidecar has closed its multiplexed connections to `dc`'s api. One
        through a gateway that dies ends when that gateway's neighbour closes it, moments later;
        a stream opened on it meanwhile ends with it, its bytes perhaps delivered, so it is not
        sent again (docs/mux.md, "Life of a connection"). What follows is about new connections:
        they must dial again and fail over."""
        m = self.mesh

        def open_to(dc):
            return {name: c.get("MuxActive") for name, c in m.webp.stats()["Clusters"].items()
                    if ".%s." % dc in name and c.get("MuxActive")}
        wait_until(lambda: not open_to(dc), timeout=15,
                   msg=lambda: "web's sidecar closes its connections to %s: %r\n%s" % (
                       dc, open_to(dc), m.describe()))

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
        self.wait_mux_closed("dc2")
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
        self.wait_mux_closed("dc2")
        for i in range(10):
            path = "/dc2-gone-%d" % i
            self.assertEqual(m.answer(path), "dc3", path + "\n" + m.describe())
        # After two failures web's sidecar stopped trying dc2 for a while.
        self.assertGreater(m.webp.log().count("ejected after"), ejections, m.webp.describe())


if __name__ == "__main__":
    unittest.main()
