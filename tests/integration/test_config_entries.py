"""Config entries across two datacenters (dc2's primary_datacenter is dc1): a write in dc2 is
stored in dc1 and replicated back to dc2; deletes replicate; cas; the CLI's outputs and errors;
with dc1's server stopped dc2 keeps serving its copy, and it catches up once dc1 is back."""

import json
import unittest

from harness import wait_until, write_file
from test_connect_ca import DC


def entry(agent, kind, name):
    status, _, body = agent.json("GET", "/v1/config/%s/%s" % (kind, name))
    return body if status == 200 else None


def missing(agent, kind, name):
    status, _, body = agent.http("GET", "/v1/config/%s/%s" % (kind, name))
    return status == 404 and body.decode() == 'Config entry not found for "%s" / "%s"' % (kind, name)


class ConfigEntriesTest(unittest.TestCase):
    def test_written_at_the_primary_and_replicated_to_the_secondary(self):
        dc1 = DC(self, "dc1")
        dc2 = DC(self, "dc2", primary="dc1", wan_join="127.0.0.1:%d" % dc1.wan)
        wait_until(lambda: "dc1" in (dc2.server.json("GET", "/v1/catalog/datacenters")[2] or []),
                   timeout=60, msg="dc2 sees dc1 over the WAN")
        d = dc2.server.workdir

        # Written in dc2: stored in dc1 at once, and copied back into dc2.
        web = write_file(d, "web.hcl", 'Kind = "service-defaults"\nName = "web"\n'
                                       '# the protocol\nProtocol = "http"\n')
        cp = wait_until(lambda: (lambda c: c if c.returncode == 0 else None)(
            dc2.server.cli("config", "write", web)), timeout=30, msg="the write through dc2")
        self.assertEqual(cp.stdout, "Config entry written: service-defaults/web\n")
        stored = entry(dc1.server, "service-defaults", "web")
        self.assertIsNotNone(stored)
        self.assertEqual(stored["Protocol"], "http")
        copy = wait_until(lambda: entry(dc2.server, "service-defaults", "web"), timeout=30,
                          msg="dc2's copy of service-defaults/web")
        self.assertEqual(copy["Protocol"], "http")

        cp = dc2.server.cli("config", "read", "-kind", "service-defaults", "-name", "web")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout)["Protocol"], "http")
        self.assertTrue(cp.stdout.startswith('{\n    "'), cp.stdout)
        cp = dc2.server.cli("config", "list", "-kind", "service-defaults")
        self.assertEqual(cp.stdout, "web\n")

        # cas, through dc2: a stale index writes nothing; the current one does.
        index = entry(dc1.server, "service-defaults", "web")["ModifyIndex"]
        grpc = write_file(d, "web.json", json.dumps(
            {"Kind": "service-defaults", "Name": "web", "Protocol": "grpc"}))
        cp = dc2.server.cli("config", "write", "-cas", "-modify-index=%d" % (index + 100), grpc)
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(cp.stderr, "Config entry not updated: service-defaults/web\n")
        self.assertEqual(entry(dc1.server, "service-defaults", "web")["Protocol"], "http")
        cp = dc2.server.cli("config", "write", "-cas", "-modify-index=%d" % index, grpc)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(entry(dc1.server, "service-defaults", "web")["Protocol"], "grpc")
        wait_until(lambda: (entry(dc2.server, "service-defaults", "web") or {}).get("Protocol") == "grpc",
                   timeout=30, msg="the update reaches dc2")

        # Refused entries: the primary's text, and nothing stored anywhere.
        bad = write_file(d, "bad.hcl", 'Kind = "proxy-defaults"\nName = "x"\n')
        cp = dc2.server.cli("config", "write", bad)
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(cp.stderr, 'Error writing config entry proxy-defaults/x: Unexpected '
                                    'response code: 500 (invalid name ("x"), only "global" is '
                                    'supported)\n')
        status, _, body = dc2.server.http("PUT", "/v1/config", b'{"Kind": "service-route", "Name": "a"}')
        self.assertEqual((status, body.decode()),
                         (400, 'Request decoding failed: invalid config entry kind: service-route; '
                               'did you mean "service-router"?'))
        self.assertEqual(dc1.server.get("/v1/config/proxy-defaults"), [])
        status, _, body = dc1.server.http("GET", "/v1/config/service-route/a")
        self.assertEqual((status, body.decode()), (500, "invalid config entry kind: service-route"))

        # A delete through dc2 reaches dc1 and then dc2's copy.
        cp = dc2.server.cli("config", "delete", "-kind", "service-defaults", "-name", "web")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout, "Config entry deleted: service-defaults/web\n")
        self.assertTrue(missing(dc1.server, "service-defaults", "web"))
        wait_until(lambda: missing(dc2.server, "service-defaults", "web"), timeout=30,
                   msg="the delete reaches dc2")
        cp = dc2.server.cli("config", "read", "-kind", "service-defaults", "-name", "web")
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(cp.stderr, 'Error reading config entry "service-defaults" / "web": '
                                    'Unexpected response code: 404 (Config entry not found for '
                                    '"service-defaults" / "web")\n')

        # dc1 stops: dc2 serves its copy; writes fail, as the primary takes them.
        glob = write_file(d, "global.hcl", 'Kind = "proxy-defaults"\nName = "global"\n'
                                           'Config {\n  protocol = "http"\n}\n')
        cp = dc2.server.cli("config", "write", glob)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        wait_until(lambda: entry(dc2.server, "proxy-defaults", "global"), timeout=30,
                   msg="dc2's copy of proxy-defaults/global")
        dc1.server.stop()
        wait_until(lambda: "cannot read the config entries of the primary datacenter 'dc1'"
                           in dc2.server.output(), timeout=60, msg="dc2 notices dc1 is gone")
        kept = entry(dc2.server, "proxy-defaults", "global")
        self.assertIsNotNone(kept)
        self.assertEqual(kept["Config"], {"protocol": "http"})
        cp = dc2.server.cli("config", "write", web, timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stdout)

        # dc1 back, with an entry written there meanwhile: dc2 catches up.
        dc1.server.start([])
        mesh = write_file(dc1.root, "mesh.hcl", 'Kind = "mesh"\n')
        wait_until(lambda: dc1.server.cli("config", "write", mesh).returncode == 0, timeout=60,
                   msg="a write in dc1 once it is back")
        wait_until(lambda: entry(dc2.server, "mesh", "mesh"), timeout=90,
                   msg="dc2 catches up with dc1")
        self.assertIsNotNone(entry(dc2.server, "proxy-defaults", "global"))


if __name__ == "__main__":
    unittest.main()
