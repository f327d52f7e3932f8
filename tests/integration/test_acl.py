"""ACLs with real processes, default deny: dc1 (the primary) and dc2 each with a server, and two
dc2 client agents that resolve tokens through their server (one with down_policy extend-cache,
one with deny). Anonymous requests refused or filtered; key_prefix and service rules; bootstrap
once and Consul's reset; a token deleted in the primary stops working in the secondary within
its token_ttl; with the primary unreachable, extend-cache keeps a cached token working and deny
refuses it; bad input refused with nothing stored."""

import json
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

from harness import Agent, unique_node, wait_until, write_file
from test_connect_ca import DC

MANAGEMENT = str(uuid.uuid4())


def acl_hcl(extra_tokens="", ttl=None, down=None, persist=False):
    lines = ["acl {", "  enabled = true", '  default_policy = "deny"']
    if persist:
        lines.append("  enable_token_persistence = true")
    if ttl:
        lines.append('  token_ttl = "%s"' % ttl)
    if down:
        lines.append('  down_policy = "%s"' % down)
    lines += ["  tokens {", extra_tokens, "  }", "}"]
    return "\n".join(lines)


class AclTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._cleanups = []
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        tc = cls

        class Registrar:
            @staticmethod
            def addCleanup(fn, *args, **kwargs):
                cls._cleanups.append((fn, args, kwargs))

            @staticmethod
            def assertEqual(a, b, msg=None):
                assert a == b, msg

        reg = Registrar()
        from test_raft import free_ports
        cls.dns_port = free_ports(1)[0]
        cls.dc1 = DC(reg, "dc1", extra_hcl=acl_hcl('    initial_management = "%s"' % MANAGEMENT),
                     dns_port=cls.dns_port)
        # dc2's server resolves tokens at dc1 and caches them for 2 s.
        cls.dc2 = DC(reg, "dc2", primary="dc1", wan_join="127.0.0.1:%d" % cls.dc1.wan,
                     extra_hcl=acl_hcl('    replication = "%s"\n    agent = "%s"' %
                                       (MANAGEMENT, MANAGEMENT), ttl="2s"))
        # dc3 replicates policies, roles and global tokens and resolves them from its copy.
        cls.dc3 = DC(reg, "dc3", primary="dc1", wan_join="127.0.0.1:%d" % cls.dc1.wan,
                     extra_hcl=acl_hcl('    replication = "%s"\n    agent = "%s"' %
                                       (MANAGEMENT, MANAGEMENT)).replace(
                         "acl {", "acl {\n  enable_token_replication = true"))
        cls.s1, cls.s2, cls.s3 = cls.dc1.server, cls.dc2.server, cls.dc3.server
        mgmt = {"X-Consul-Token": MANAGEMENT}
        wait_until(lambda: cls.s1.json("GET", "/v1/acl/token/self", headers=mgmt)[0] == 200,
                   timeout=60, msg="dc1's ACL system")
        for srv in (cls.s2, cls.s3):
            wait_until(lambda srv=srv: sorted(srv.json("GET", "/v1/catalog/datacenters")[2] or []) ==
                       ["dc1", "dc2", "dc3"], timeout=60, msg="three datacenters in the WAN pool")
        cls.clients = {}
        for down in ("extend-cache", "deny"):
            c = Agent(node=unique_node("cli-" + down.split("-")[0]), dev=False)
            reg.addCleanup(c.stop)
            c.workdir = os.path.join(cls.dc2.root, c.node)
            os.makedirs(c.workdir, exist_ok=True)
            cfg = write_file(c.workdir, "acl.hcl",
                             'primary_datacenter = "dc1"\n' +
                             acl_hcl('    agent = "%s"' % MANAGEMENT, ttl="1s", down=down,
                                     persist=down == "deny"))
            c.start_args = (["-datacenter", "dc2", "-retry-join", "127.0.0.1:%d" % cls.dc2.lan,
                             "-retry-interval", "1s"], cfg)
            c.start(*c.start_args)
            cls.clients[down] = c
        for c in cls.clients.values():
            wait_until(lambda c=c: any(n["Node"] == c.node for n in
                                       cls.s2.json("GET", "/v1/catalog/nodes", headers=mgmt)[2] or []),
                       timeout=30, msg=c.node + " in dc2's catalog")

    @classmethod
    def tearDownClass(cls):
        for fn, args, kwargs in reversed(cls._cleanups):
            try:
                fn(*args, **kwargs)
            except Exception:
                pass

    # ---- helpers ---------------------------------------------------------------------------

    def req(self, agent, method, path, body=None, token=None, timeout=40):
        headers = {"X-Consul-Token": token} if token else {}
        return agent.json(method, path, body, headers=headers, timeout=timeout)

    def ok(self, agent, method, path, body=None, token=MANAGEMENT):
        st, _, v = self.req(agent, method, path, body, token)
        self.assertEqual(st, 200, "%s %s -> %d %r" % (method, path, st, v))
        return v

    def token_with(self, name, rules):
        self.ok(self.s1, "PUT", "/v1/acl/policy", {"Name": name, "Rules": rules})
        return self.ok(self.s1, "PUT", "/v1/acl/token", {"Policies": [{"Name": name}]})

    def refused(self, agent, method, path, body=None, token=None):
        st, _, data = agent.http(method, path, json.dumps(body) if body is not None else None,
                                 headers={"X-Consul-Token": token} if token else {}, timeout=40)
        return st, data.decode("utf-8", "replace")

    # ---- tests -----------------------------------------------------------------------------

    def test_anonymous_requests_are_refused_or_filtered(self):
        self.ok(self.s1, "PUT", "/v1/kv/secret", "v")
        self.ok(self.s2, "PUT", "/v1/kv/secret", "v")
        self.ok(self.s1, "PUT", "/v1/agent/service/register", {"Name": "hidden", "Port": 1})
        writes = [("PUT", "/v1/kv/x", "v"), ("DELETE", "/v1/kv/secret", None),
                  ("PUT", "/v1/catalog/register", {"Node": "n", "Address": "10.0.0.1"}),
                  ("PUT", "/v1/agent/service/register", {"Name": "x", "Port": 1}),
                  ("PUT", "/v1/session/create", {}), ("PUT", "/v1/event/fire/e", None),
                  ("PUT", "/v1/config", {"Kind": "proxy-defaults", "Name": "global"}),
                  ("PUT", "/v1/acl/policy", {"Name": "p"}), ("GET", "/v1/acl/tokens", None),
                  ("GET", "/v1/snapshot", None), ("GET", "/v1/agent/self", None),
                  ("GET", "/v1/kv/secret", None), ("GET", "/v1/operator/raft/configuration", None),
                  ("GET", "/v1/connect/ca/configuration", None),
                  ("GET", "/v1/agent/connect/ca/leaf/hidden", None)]
        lists = ["/v1/catalog/services", "/v1/catalog/nodes", "/v1/health/service/hidden",
                 "/v1/agent/services", "/v1/agent/members", "/v1/session/list",
                 "/v1/connect/intentions", "/v1/config/service-defaults"]
        for agent in (self.s1, self.clients["extend-cache"]):
            for method, path, body in writes:
                st, text = self.refused(agent, method, path, body)
                self.assertEqual(st, 403, "%s %s -> %d %s" % (method, path, st, text))
                self.assertIn("Permission denied", text)
            for path in lists:
                st, _, v = self.req(agent, "GET", path)
                self.assertEqual(st, 200, path)
                self.assertFalse(v, "%s leaked %r" % (path, v))
            st, _, _ = self.req(agent, "GET", "/v1/kv/?recurse")
            self.assertEqual(st, 404)
        # Open endpoints stay open.
        self.assertEqual(self.req(self.s1, "GET", "/v1/status/leader")[0], 200)
        self.assertEqual(self.req(self.s1, "GET", "/v1/connect/ca/roots")[0], 200)

    def test_key_prefix_token(self):
        t = self.token_with("app-kv", 'key_prefix "app/" { policy = "write" }')
        secret = t["SecretID"]
        for agent in (self.s1, self.s2, self.clients["extend-cache"]):
            self.ok(agent, "PUT", "/v1/kv/app/x", "1", token=secret)
            st, text = self.refused(agent, "PUT", "/v1/kv/other/x", "1", token=secret)
            self.assertEqual(st, 403, text)
            self.assertIn("lacks permission 'key:write' on \"other/x\"", text)
            self.assertIn(t["AccessorID"], text)
            self.assertNotIn(secret, text)

    def test_service_token_registers_and_gets_its_leaf(self):
        t = self.token_with("web-svc", 'service "web" { policy = "write" }')
        secret = t["SecretID"]
        self.ok(self.s1, "PUT", "/v1/agent/service/register", {"Name": "web", "Port": 8080},
                token=secret)
        leaf = self.ok(self.s1, "GET", "/v1/agent/connect/ca/leaf/web", token=secret)
        self.assertIn("BEGIN CERTIFICATE", leaf["CertPEM"])
        st, text = self.refused(self.s1, "PUT", "/v1/agent/service/register",
                                {"Name": "api", "Port": 8081}, token=secret)
        self.assertEqual(st, 403, text)
        st, text = self.refused(self.s1, "GET", "/v1/agent/connect/ca/leaf/api", token=secret)
        self.assertEqual(st, 403, text)
        self.assertIn("'service:write' on \"api\"", text)

    def test_a_client_syncs_each_service_with_its_registration_token(self):
        c = self.clients["extend-cache"]
        node_only = self.token_with("node-only", 'node_prefix "" { policy = "write" }')
        svc = self.token_with("rpcsvc", 'service "rpcsvc" { policy = "write" }')
        self.ok(c, "PUT", "/v1/agent/token/agent", {"Token": node_only["SecretID"]})
        try:
            # The agent token may not write rpcsvc; the token it was registered with may, and
            # anti-entropy uses that one (Consul's rule), for the service and its check.
            self.ok(c, "PUT", "/v1/agent/service/register",
                    {"Name": "rpcsvc", "Port": 1, "Check": {"TTL": "60s"}}, token=svc["SecretID"])
            wait_until(lambda: self.ok(self.s2, "GET", "/v1/health/service/rpcsvc"), timeout=30,
                       msg="rpcsvc synced with its registration token")
            checks = self.ok(self.s2, "GET", "/v1/health/service/rpcsvc")[0]["Checks"]
            self.assertIn("service:rpcsvc", [ch["CheckID"] for ch in checks])
            # Deregistered with the same token.
            self.ok(c, "PUT", "/v1/agent/service/deregister/rpcsvc", token=svc["SecretID"])
            wait_until(lambda: self.ok(self.s2, "GET", "/v1/catalog/service/rpcsvc") == [],
                       timeout=30, msg="rpcsvc deregistered")
        finally:
            self.ok(c, "PUT", "/v1/agent/token/agent", {"Token": MANAGEMENT})

    def test_token_persistence_keeps_api_tokens_across_a_restart(self):
        c = self.clients["deny"]
        reader = self.token_with("persist-read", 'key_prefix "persist/" { policy = "read" }')
        self.assertEqual(self.refused(c, "GET", "/v1/kv/persist/x")[0], 403)
        self.ok(c, "PUT", "/v1/agent/token/default", {"Token": reader["SecretID"]})
        self.assertEqual(self.refused(c, "GET", "/v1/kv/persist/x")[0], 404)  # read allowed, no key
        path = os.path.join(c.workdir, "data", "acl-tokens.json")
        with open(path) as f:
            self.assertEqual(json.load(f), {"default": reader["SecretID"]})
        self.assertEqual(os.stat(path).st_mode & 0o077, 0)
        c.stop()
        c.start(*c.start_args)
        try:
            wait_until(lambda: self.refused(c, "GET", "/v1/kv/persist/x")[0] == 404, timeout=30,
                       msg="the persisted default token in use after the restart")
        finally:
            self.ok(c, "PUT", "/v1/agent/token/default", {"Token": ""})
        self.assertEqual(self.refused(c, "GET", "/v1/kv/persist/x")[0], 403)
        with open(path) as f:
            self.assertEqual(json.load(f), {})

    def test_bootstrap_once_then_reset(self):
        # initial_management used the bootstrap up.
        st, text = self.refused(self.s1, "PUT", "/v1/acl/bootstrap")
        self.assertEqual(st, 403, text)
        self.assertIn("Permission denied: ACL bootstrap no longer allowed (reset index: ", text)
        index = text.split("reset index: ")[1].rstrip(")\n ")
        cp = self.s1.cli("acl", "bootstrap")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Failed ACL bootstrapping: Unexpected response code: 403 (Permission denied: "
                      "ACL bootstrap no longer allowed (reset index: %s))" % index, cp.stderr)
        # Consul's reset: the index into <data_dir>/acl-bootstrap-reset, then bootstrap again.
        write_file(os.path.join(self.dc1.root, "data"), "acl-bootstrap-reset", index + "\n")
        cp = self.s1.cli("acl", "bootstrap")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("Bootstrap Token (Global Management)", cp.stdout)
        secret = [l.split()[-1] for l in cp.stdout.splitlines() if l.startswith("SecretID:")][0]
        self.assertEqual(self.req(self.s1, "GET", "/v1/acl/token/self", token=secret)[0], 200)
        self.assertFalse(os.path.exists(os.path.join(self.dc1.root, "data", "acl-bootstrap-reset")))
        st, text = self.refused(self.s1, "PUT", "/v1/acl/bootstrap")
        self.assertEqual(st, 403, text)

    def test_a_token_deleted_in_the_primary_stops_working_in_the_secondary(self):
        t = self.token_with("dc2-reader", 'key_prefix "" { policy = "read" }')
        self.ok(self.s2, "PUT", "/v1/kv/seen", "1")
        self.ok(self.s2, "GET", "/v1/kv/seen", token=t["SecretID"])
        self.ok(self.s1, "DELETE", "/v1/acl/token/" + t["AccessorID"])
        deleted = time.monotonic()
        wait_until(lambda: self.refused(self.s2, "GET", "/v1/kv/seen", token=t["SecretID"])[0] == 403,
                   timeout=15, msg="the deleted token refused in dc2")
        took = time.monotonic() - deleted
        st, text = self.refused(self.s2, "GET", "/v1/kv/seen", token=t["SecretID"])
        self.assertEqual((st, text), (403, "ACL not found"))
        print("\n  deleted token refused in dc2 after %.1fs (token_ttl 2s)" % took)
        self.assertLess(took, 2.0 + 5.0)

    def test_down_policy_while_the_primary_is_unreachable(self):
        t = self.token_with("agent-reader", 'agent_prefix "" { policy = "read" }')
        secret = t["SecretID"]
        for c in self.clients.values():
            self.ok(c, "GET", "/v1/agent/self", token=secret)
        os.kill(self.s1.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(1.5)  # past the clients' token_ttl: the next use asks again, and fails
            started = time.monotonic()
            # Both asks wait for the unreachable primary (an RPC timeout), so they run together.
            answers = {}
            threads = [threading.Thread(target=lambda d=d: answers.__setitem__(
                d, self.refused(self.clients[d], "GET", "/v1/agent/self", token=secret)))
                for d in ("extend-cache", "deny")]
            for th in threads:
                th.start()
            for th in threads:
                th.join(90)
            st, text = answers["extend-cache"]
            self.assertEqual(st, 200, "extend-cache keeps the cached token: " + text[:300])
            st, text = answers["deny"]
            self.assertEqual(st, 403, text)
            self.assertIn("Permission denied", text)
            print("\n  with dc1 stopped: extend-cache 200, deny 403 (%.1fs)" %
                  (time.monotonic() - started))
        finally:
            os.kill(self.s1.proc.pid, signal.SIGCONT)
        wait_until(lambda: self.refused(self.clients["deny"], "GET", "/v1/agent/self",
                                        token=secret)[0] == 200, timeout=30,
                   msg="deny answers again once dc1 is back")

    def test_token_replication_to_a_secondary(self):
        def status():
            return self.ok(self.s3, "GET", "/v1/acl/replication")
        wait_until(lambda: status()["ReplicatedTokenIndex"] > 0, timeout=60,
                   msg="dc3 copied dc1's tokens")
        st = status()
        self.assertEqual((st["Enabled"], st["Running"], st["SourceDatacenter"],
                          st["ReplicationType"]), (True, True, "dc1", "tokens"))
        self.ok(self.s3, "PUT", "/v1/kv/rep", "1")
        t = self.token_with("dc3-reader", 'key_prefix "" { policy = "read" }')
        created = time.monotonic()
        wait_until(lambda: any(x["AccessorID"] == t["AccessorID"] for x in self.ok(
            self.s1, "GET", "/v1/internal/acl/replicate?kind=tokens")), timeout=5)
        # The copy reaches dc3 through its blocking read of dc1's tokens.
        wait_until(lambda: status()["ReplicatedTokenIndex"] >= t["ModifyIndex"], timeout=30,
                   msg="dc3 copied the new token")
        print("\n  new token copied to dc3 after %.2fs" % (time.monotonic() - created))
        # A local token of dc3 stays there.
        local = self.ok(self.s3, "PUT", "/v1/acl/token",
                        {"Local": True, "Policies": [{"Name": "dc3-reader"}]})
        self.assertEqual(self.refused(self.s1, "GET", "/v1/acl/token/" + local["AccessorID"],
                                      token=MANAGEMENT)[0], 404)
        # With dc1 stopped, dc3 still resolves both, never having asked dc1 about them.
        os.kill(self.s1.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            for secret in (t["SecretID"], local["SecretID"]):
                st, text = self.refused(self.s3, "GET", "/v1/kv/rep", token=secret)
                self.assertEqual(st, 200, text)
            self.assertLess(time.monotonic() - started, 5.0)
        finally:
            os.kill(self.s1.proc.pid, signal.SIGCONT)
        self.ok(self.s1, "DELETE", "/v1/acl/token/" + t["AccessorID"])
        deleted = time.monotonic()
        wait_until(lambda: self.refused(self.s3, "GET", "/v1/kv/rep", token=t["SecretID"])[0] == 403,
                   timeout=30, msg="the deleted token refused in dc3")
        print("  deleted token refused in dc3 after %.2fs" % (time.monotonic() - deleted))

    def dig(self, name):
        cp = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "+short", "+time=5",
                             "+tries=1", name, "SRV"], capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        return cp.stdout.strip()

    def test_dns_answers_what_its_token_may_read(self):
        self.ok(self.s1, "PUT", "/v1/agent/service/register", {"Name": "dnsweb", "Port": 8123})
        wait_until(lambda: self.ok(self.s1, "GET", "/v1/catalog/service/dnsweb"), timeout=15,
                   msg="dnsweb in the catalog")
        # The anonymous token reads nothing under default deny: no answer.
        self.assertEqual(self.dig("dnsweb.service.consul"), "")
        t = self.token_with("dns-read", 'service_prefix "" { policy = "read" }\n'
                                        'node_prefix "" { policy = "read" }')
        self.ok(self.s1, "PUT", "/v1/agent/token/dns", {"Token": t["SecretID"]})
        wait_until(lambda: "8123" in self.dig("dnsweb.service.consul"), timeout=15,
                   msg="dnsweb answered with the dns token")

    def test_bad_input_is_refused_and_nothing_is_stored(self):
        before = self.ok(self.s1, "GET", "/v1/acl/policies")
        cases = [
            ({"Name": "bad1", "Rules": 'key_prefix "a/" {\n  policy = "maybe"\n}'},
             ["Invalid key_prefix policy", "line 2"]),
            ({"Name": "bad2", "Rules": 'key_prefix "a/" {\n  polcy = "read"\n}'},
             ["polcy", "line 2"]),
            ({"Name": "bad3", "Rules": 'sevice "web" {\n policy = "read"\n}'},
             ["sevice", "service"]),
            ({"Name": "bad4", "Rules": 'key "x" { policy = "read"'}, ["line 1"]),
            ({"Name": "bad name!", "Rules": ""}, ["invalid Name"]),
        ]
        for body, words in cases:
            st, text = self.refused(self.s1, "PUT", "/v1/acl/policy", body, token=MANAGEMENT)
            self.assertEqual(st, 400, "%r -> %d %s" % (body, st, text))
            for w in words:
                self.assertIn(w, text)
        self.assertEqual(self.ok(self.s1, "GET", "/v1/acl/policies"), before)
        tokens = self.ok(self.s1, "GET", "/v1/acl/tokens")
        st, text = self.refused(self.s1, "PUT", "/v1/acl/token",
                                {"Policies": [{"Name": "no-such-policy"}]}, token=MANAGEMENT)
        self.assertEqual((st, text), (400, 'No such ACL policy with name "no-such-policy"'))
        # A secret where an accessor belongs: not found, and the secret is not echoed.
        st, text = self.refused(self.s1, "GET", "/v1/acl/token/" + MANAGEMENT, token=MANAGEMENT)
        self.assertEqual(st, 404)
        self.assertNotIn(MANAGEMENT, text)
        self.assertEqual(len(self.ok(self.s1, "GET", "/v1/acl/tokens")), len(tokens))
        # Secrets are not in the agents' logs.
        for agent in (self.s1, self.s2):
            self.assertNotIn(MANAGEMENT, agent.output().replace(
                " ".join(agent.argv or []), ""))


if __name__ == "__main__":
    unittest.main()
