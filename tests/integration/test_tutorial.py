"""Scenario S2: the mesh-gateway tutorial, run as written, with `gangway` typed for `consul`.

Two datacenters, each in a network namespace of its own with Consul's default ports, joined by
a WAN bridge (test_mesh_netns.Topology). The tutorial's four steps, in order:

1. Each server's configuration has the tutorial's keys: `server = true`, `bootstrap`, and a
   `retry_join` naming the other datacenter's server (joined over the WAN, with a note). The
   diagnosis: `gangway status` lists both datacenters under "Joined WAN".
2. In each datacenter, `gangway services register` of the tutorial's files, verbatim with their
   `#` comments (examples/tutorial/; dc2's are the "equivalent steps"), and a gateway process
   serving the registered `mesh-gateway`. The diagnosis: `gangway services` lists them.
3. One Connect CA (dc1 primary) and the agent TLS files (`ca_file`, `cert_file`, `key_file`).
4. Before it, the tutorial's diagnosis holds: dc1 cannot reach the service in dc2. Then
   `gangway config write service-defaults.consul` and `gangway config write
   dc1-service-router-to-dc2.json`, after which a request from dc1 reaches dc2 through both
   gateways.

Service A (web in dc1, its sidecar's upstream `service` on 127.0.0.1:9191) and service B (the
tutorial's router names it `service`, in dc2) are the test's own, as the tutorial leaves them
out. Needs root and iproute2 (it skips, saying which is missing). Everything is stopped by PID
and the namespaces are removed, also when the test fails.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import unittest

from harness import gangway_bin, wait_until, write_file
from test_mesh_netns import API_APP, WAN_IP, Topology, missing_prerequisite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUTORIAL_DIR = os.path.join(ROOT, "examples", "tutorial")
# The tutorial itself, when this checkout sits next to the shared documents.
SEED = os.path.join(os.path.dirname(ROOT), "shared", "seed", "tutorial-mesh-gateways.txt")
TEST_BUDGET_S = 150
UPSTREAM_PORT = 9191
SIDECAR_PORT = 21000
APP_PORT = 8080


def in_dir(directory, argv):
    """argv run with `directory` as its working directory (for Topology.exec/start)."""
    return ["sh", "-c", 'cd "$0" && exec "$@"', directory] + list(argv)


def server_config(dc, other, workdir):
    """Step 1's keys (and step 3's), with this topology's addresses."""
    return "\n".join([
        "# The tutorial's step 1: a server whose retry_join names the other datacenter's.",
        "server = true",
        "bootstrap = true # the first (and only) server of %s" % dc,
        'retry_join = ["%s"] # the server of %s' % (WAN_IP[other], other),
        'retry_interval = "1s"',
        'datacenter = "%s"' % dc,
        'data_dir = "%s"' % os.path.join(workdir, dc, "data"),
        'bind_addr = "%s"' % WAN_IP[dc],
        'client_addr = "127.0.0.1"',
        "# Step 3: one Connect CA for both datacenters (dc1's), and the agent TLS files.",
        'primary_datacenter = "dc1"',
        "connect { enabled = true }",
        'ca_file = "consul-agent-ca.pem"',
        'cert_file = "%s-server-consul-0.pem"' % dc,
        'key_file = "%s-server-consul-0-key.pem"' % dc,
        "",
    ])


class TutorialFilesTest(unittest.TestCase):
    def test_the_examples_are_the_tutorials_files_verbatim(self):
        if not os.path.exists(SEED):
            self.skipTest("the tutorial's text is not next to this checkout (%s)" % SEED)
        with open(SEED, encoding="utf-8") as f:
            lines = f.read().split("\n")
        blocks = {}
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)# (\S+\.json)\s*$", line)
            if not m:
                continue
            indent, block = len(m.group(1)), []
            for text in lines[i:]:
                if not text.strip():
                    break
                block.append(text[indent:])
            blocks[m.group(2)] = "\n".join(block) + "\n"
        self.assertEqual(sorted(blocks), ["dc1-mesh-gateway-service.json",
                                          "dc1-mesh-gateway-upstream-dc2.json",
                                          "dc1-service-router-to-dc2.json"])
        for name, text in blocks.items():
            with open(os.path.join(TUTORIAL_DIR, name), encoding="utf-8") as f:
                self.assertEqual(f.read(), text, name)


class TutorialTest(unittest.TestCase):
    def setUp(self):
        why = missing_prerequisite()
        if why:
            self.skipTest(why)
        self.workdir = tempfile.mkdtemp(prefix="gangway-tutorial-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.t = Topology(self.workdir)
        self.addCleanup(self.t.teardown)
        self.t.build()
        self.deadline = time.monotonic() + TEST_BUDGET_S
        for dc in ("dc1", "dc2"):
            os.makedirs(os.path.join(self.workdir, dc, "data"))
            for name in os.listdir(TUTORIAL_DIR):
                if name.startswith(dc + "-"):
                    shutil.copy(os.path.join(TUTORIAL_DIR, name), os.path.join(self.workdir, dc))

    def wait(self, fn, timeout, what):
        timeout = max(0.0, min(timeout, self.deadline - time.monotonic()))
        return wait_until(fn, timeout=timeout, interval=0.3, msg=lambda: "%s\n%s" % (
            what() if callable(what) else what, self.t.diagnosis()))

    def gangway(self, dc, *args, ok=True):
        """`gangway <args>` in dc's namespace and directory, as the tutorial types it."""
        cp = self.t.exec(dc, in_dir(os.path.join(self.workdir, dc), [gangway_bin()] + list(args)))
        out, err = cp.stdout.decode(), cp.stderr.decode()
        if ok:
            self.assertEqual(cp.returncode, 0, "gangway %s in %s: %s%s" % (
                " ".join(args), dc, out, err))
        return cp.returncode, out, err

    def start(self, dc, name, *args):
        return self.t.start(dc, "%s-%s" % (dc, name), in_dir(os.path.join(self.workdir, dc), args))

    def register(self, dc, name, service):
        write_file(os.path.join(self.workdir, dc), name, json.dumps({"service": service}))
        self.gangway(dc, "services", "register", name)

    def upstream(self, path):
        return self.t.http("dc1", path, port=UPSTREAM_PORT, timeout=5)

    def test_the_four_steps_as_written_end_in_a_request_from_dc1_to_dc2(self):
        # Agent TLS material (step 3), one CA for both datacenters, made by the CLI.
        pki = os.path.join(self.workdir, "pki")
        os.makedirs(pki)
        cmds = (["tls", "ca", "create"], ["tls", "cert", "create", "-server", "-dc", "dc1"],
                ["tls", "cert", "create", "-server", "-dc", "dc2"])
        for args in cmds:
            cp = self.t.exec("dc1", in_dir(pki, [gangway_bin()] + args))
            self.assertEqual(cp.returncode, 0, cp.stderr)
        for dc in ("dc1", "dc2"):
            for name in os.listdir(pki):
                shutil.copy(os.path.join(pki, name), os.path.join(self.workdir, dc))

        # Step 1.
        for dc, other in (("dc2", "dc1"), ("dc1", "dc2")):
            write_file(os.path.join(self.workdir, dc), dc + "-server.hcl",
                       server_config(dc, other, self.workdir))
            self.start(dc, "server", gangway_bin(), "agent", "-config-file", dc + "-server.hcl")
        for dc in ("dc1", "dc2"):
            self.wait(lambda: self.t.get_json(dc, "/v1/status/leader"), 30, dc + " has a leader")

        def joined_wan():
            code, out, _ = self.gangway("dc1", "status", ok=False)
            line = [l for l in out.splitlines() if l.startswith("Joined WAN:")]
            return code == 0 and line and "dc1" in line[0] and "dc2" in line[0]
        self.wait(joined_wan, 40, "gangway status in dc1 lists dc1 and dc2 under Joined WAN")
        # dc2's own retry_join may have joined the two first; dc1's is explained on its next try.
        self.wait(lambda: "retry_join \"%s\" names server" % WAN_IP["dc2"] in
                  self.t.log("dc1-server"), 15, "dc1 explains its retry_join of dc2's server")
        # Step 3's trust: dc2 signs with an intermediate from dc1's root.
        self.wait(lambda: [r for r in (self.t.get_json("dc2", "/v1/connect/ca/roots") or
                                       {}).get("Roots") or [] if r.get("IntermediateCerts")],
                  45, "dc2's intermediate signed by dc1")

        # Step 2, in each datacenter: the tutorial's files, then a gateway serving mesh-gateway.
        for dc, other in (("dc1", "dc2"), ("dc2", "dc1")):
            for name in ("%s-mesh-gateway-service.json" % dc,
                         "%s-mesh-gateway-upstream-%s.json" % (dc, other)):
                _, out, err = self.gangway(dc, "services", "register", name)
                self.assertIn("Registered service: ", out)
                self.assertIn("comments are not valid JSON; accepted and ignored", err)
            self.start(dc, "gateway", gangway_bin(), "gateway", "mesh", "-service",
                       "mesh-gateway", "-admin-bind", "127.0.0.1:19000", "-workers", "1")
            _, out, _ = self.gangway(dc, "services")
            for name in ("mesh-gateway", "mesh-gateway-upstream-" + other):
                self.assertIn(name, out.split(), "gangway services in %s" % dc)

        # Service A (web, dc1) and service B (the router's "service", dc2), with sidecars.
        marker = secrets.token_hex(16)
        app = write_file(self.workdir, "app.py", API_APP)
        self.start("dc2", "app", "python3", app, str(APP_PORT), marker)
        self.register("dc2", "service.json", {
            "name": "service", "port": APP_PORT, "address": "127.0.0.1",
            "connect": {"sidecar_service": {"port": SIDECAR_PORT, "address": "127.0.0.1"}}})
        self.register("dc1", "web.json", {
            "name": "web", "port": APP_PORT, "address": "127.0.0.1",
            "connect": {"sidecar_service": {
                "port": SIDECAR_PORT, "address": "127.0.0.1",
                "proxy": {"upstreams": [{"destination_name": "service",
                                         "local_bind_port": UPSTREAM_PORT}]}}}})
        self.start("dc1", "sidecar", gangway_bin(), "connect", "proxy", "-sidecar-for", "web",
                   "-admin-bind", "127.0.0.1:19001", "-workers", "1")
        self.start("dc2", "sidecar", gangway_bin(), "connect", "proxy", "-sidecar-for", "service",
                   "-admin-bind", "127.0.0.1:19001", "-workers", "1")
        self.wait(lambda: self.t.get_json("dc2", "/v1/health/connect/service?passing"), 40,
                  "service's sidecar in dc2 passes its checks")
        self.wait(lambda: self.t.get_json("dc1", "/v1/health/service/mesh-gateway?dc=dc2&passing"),
                  30, "dc1 sees dc2's gateway")
        self.wait(lambda: self.t.exec("dc1", ["curl", "-sf", "-o", "/dev/null",
                                              "http://127.0.0.1:19001/ready"]).returncode == 0,
                  30, "web's sidecar has its config")

        # Step 4's diagnosis: dc1 cannot reach the service in dc2 yet ("service" has no instance
        # in dc1, and nothing sends its traffic elsewhere).
        path = "/orders/" + marker
        expected = "%s:%s\n" % (marker, hashlib.sha256(path.encode() + b"\n").hexdigest())
        status, body = self.upstream(path)
        self.assertNotEqual((status, body), (200, expected.encode()))

        # Step 4.
        write_file(os.path.join(self.workdir, "dc1"), "service-defaults.consul",
                   'Name = "service"\nMeshGateway { Mode = "local" }\n')
        _, out, err = self.gangway("dc1", "config", "write", "service-defaults.consul")
        self.assertEqual(out, "Config entry written: service-defaults/service\n")
        self.assertIn('read as Kind = "service-defaults"', err)
        _, out, err = self.gangway("dc1", "config", "write", "dc1-service-router-to-dc2.json")
        self.assertEqual(out, "Config entry written: service-resolver/service\n"
                              "Config entry written: proxy-defaults/global\n")
        self.assertIn("comments are not valid JSON; accepted and ignored", err)
        self.assertIn("a service-router in the mesh-gateway tutorial's shape", err)
        self.assertNotIn("no service \"mesh-gateway\" is registered", err)
        _, out, _ = self.gangway("dc1", "config", "read", "-kind", "service-resolver",
                                 "-name", "service")
        self.assertEqual(json.loads(out)["Redirect"], {"Datacenter": "dc2"})

        answers = []

        def request():
            answers.append(self.upstream(path))
            return answers[-1] == (200, expected.encode())
        self.wait(request, 40, lambda: "the request from dc1 reaches dc2 (last answers: %r)" %
                  answers[-3:])
        # Through both gateways: each counted the bytes.
        for dc in ("dc1", "dc2"):
            cp = self.t.exec(dc, ["curl", "-sf", "http://127.0.0.1:19000/stats"])
            stats = json.loads(cp.stdout)
            carried = sum(l["BytesIn"] + l["BytesOut"] for l in stats["Listeners"].values())
            self.assertGreater(carried, len(expected), "%s's gateway: %s" % (dc, cp.stdout))


if __name__ == "__main__":
    unittest.main()
