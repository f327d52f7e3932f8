"""The Connect CA across datacenters: the primary's root, a secondary's intermediate (obtained
once the WAN join happens, after retrying), leaves from the agent API checked with
`openssl verify`, root rotation with cross-signing, and refused configurations."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, wait_until, write_file
from test_raft import free_ports


def openssl_verify(ca_pem, leaf_pem, untrusted_pem=None):
    d = tempfile.mkdtemp(prefix="gangway-verify-")
    try:
        ca = write_file(d, "ca.pem", ca_pem)
        leaf = write_file(d, "leaf.pem", leaf_pem)
        argv = ["openssl", "verify", "-CAfile", ca]
        if untrusted_pem:
            argv += ["-untrusted", write_file(d, "untrusted.pem", untrusted_pem)]
        cp = subprocess.run(argv + [leaf], capture_output=True, text=True, timeout=30)
        return cp.returncode == 0, cp.stdout + cp.stderr
    finally:
        shutil.rmtree(d, True)


def uri_san(pem):
    cp = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=pem,
                        capture_output=True, text=True, timeout=30)
    return [p.strip()[4:] for p in cp.stdout.replace("\n", ",").split(",") if p.strip().startswith("URI:")]


def first_cert(pem):
    end = "-----END CERTIFICATE-----"
    return pem[:pem.index(end) + len(end)] + "\n"


def dev_agent_with_ca(tc):
    """A -dev agent (Connect on by default) once its CA has a root."""
    a = Agent()
    tc.addCleanup(a.stop)
    a.start([])
    wait_until(lambda: (lambda r: r if r[0] == 200 and r[2]["ActiveRootID"] else None)(
        a.json("GET", "/v1/connect/ca/roots")), timeout=20, msg="the dev agent's CA")
    return a


class DC:
    """One server (with Connect on) and optionally one client agent of a datacenter."""

    def __init__(self, tc, dc, primary=None, wan_join=None, with_client=False, ca_config=None,
                 extra_hcl="", dns_port=-1):
        self.tc, self.dc = tc, dc
        self.root = tempfile.mkdtemp(prefix="gangway-ca-")
        tc.addCleanup(shutil.rmtree, self.root, True)
        self.http, self.lan, self.wan, self.rpc = free_ports(4)
        lines = ["connect { enabled = true"]
        if ca_config:
            lines.append("  ca_config { %s }" % " ".join('%s = %s' % (k, json.dumps(v))
                                                        for k, v in ca_config.items()))
        lines.append("}")
        if primary:
            lines.append('primary_datacenter = "%s"' % primary)
        if extra_hcl:
            lines.append(extra_hcl)
        cfg = write_file(self.root, "connect.hcl", "\n".join(lines) + "\n")
        name = "%s-srv-%d" % (dc, os.getpid())
        self.server = Agent(node=name, workdir=os.path.join(self.root, "work"))
        os.makedirs(self.server.workdir, exist_ok=True)
        data = os.path.join(self.root, "data")
        self.server.command = lambda extra=(), *files: [
            os.environ.get("GANGWAY_BIN") or "gangway", "agent", "-server", "-bootstrap",
            "-node", name, "-data-dir", data, "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", str(self.http), "-dns-port", str(dns_port), "-serf-lan-port", str(self.lan),
            "-serf-wan-port", str(self.wan), "-server-port", str(self.rpc), "-datacenter", dc,
            "-config-file", cfg] + (
            ["-retry-join-wan", wan_join, "-retry-interval-wan", "1s"] if wan_join else [])
        tc.addCleanup(self.server.stop)
        self.server.start([])
        self.client = None
        if with_client:
            self.client = Agent(node="%s-cli-%d" % (dc, os.getpid()), dev=False)
            tc.addCleanup(self.client.stop)
            self.client.start(["-datacenter", dc, "-retry-join", "127.0.0.1:%d" % self.lan,
                               "-retry-interval", "1s"])

    def roots(self, agent=None):
        status, _, body = (agent or self.server).json("GET", "/v1/connect/ca/roots")
        return body if status == 200 else None

    def roots_pem(self):
        status, _, body = self.server.http("GET", "/v1/connect/ca/roots?pem=true")
        self.tc.assertEqual(status, 200, body)
        return body.decode()

    def active(self):
        r = self.roots()
        if not r or not r.get("ActiveRootID"):
            return None
        return [x for x in r["Roots"] if x["ID"] == r["ActiveRootID"]][0]

    def leaf(self, service, agent=None, index=None):
        path = "/v1/agent/connect/ca/leaf/" + service
        if index is not None:
            path += "?index=%d&wait=20s" % index
        status, headers, body = (agent or self.server).json("GET", path, timeout=40)
        self.tc.assertEqual(status, 200, body)
        return body, int(headers["X-Consul-Index"])


class MultiDatacenterCATest(unittest.TestCase):
    def test_secondary_waits_for_the_primary_then_leaves_verify_everywhere(self):
        # dc2 starts first and cannot reach its primary: it keeps trying.
        dc2 = DC(self, "dc2", primary="dc1", with_client=True)
        wait_until(lambda: "cannot reach the primary datacenter 'dc1'" in dc2.server.output(),
                   timeout=30, msg="dc2 says it is waiting for dc1")
        self.assertIsNone(dc2.active())
        status, _, body = dc2.client.http("GET", "/v1/agent/connect/ca/leaf/api")
        self.assertEqual(status, 500)
        self.assertIn(b"CA is not initialized yet", body)

        dc1 = DC(self, "dc1", with_client=False)
        root1 = wait_until(dc1.active, timeout=30, msg="dc1's root")
        self.assertIsNone(root1["IntermediateCerts"])
        # The WAN join happens now; dc2 gets its intermediate within its retry backoff.
        cp = dc2.server.cli("join", "-wan", "127.0.0.1:%d" % dc1.wan)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        root2 = wait_until(lambda: (lambda a: a if a and a["IntermediateCerts"] else None)(dc2.active()),
                           timeout=60, msg="dc2's intermediate")
        self.assertEqual(root2["ID"], root1["ID"])
        self.assertEqual(dc2.roots()["TrustDomain"], dc1.roots()["TrustDomain"])
        self.assertNotEqual(root2["SigningKeyID"], root1["SigningKeyID"])
        td = dc1.roots()["TrustDomain"]

        # Primary leaves verify against the roots directly, secondary leaves through their
        # intermediate, and both against the primary's PEM alone (one trust root).
        web, _ = dc1.leaf("web")
        ok, out = openssl_verify(dc1.roots_pem(), web["CertPEM"])
        self.assertTrue(ok, out)
        self.assertEqual(uri_san(web["CertPEM"]), ["spiffe://%s/ns/default/dc/dc1/svc/web" % td])
        self.assertEqual(web["ServiceURI"], "spiffe://%s/ns/default/dc/dc1/svc/web" % td)

        api, api_index = dc2.leaf("api", agent=dc2.client)
        self.assertEqual(api["CertPEM"].count("BEGIN CERTIFICATE"), 2)
        self.assertEqual(uri_san(api["CertPEM"]), ["spiffe://%s/ns/default/dc/dc2/svc/api" % td])
        ok, out = openssl_verify(dc2.roots_pem(), api["CertPEM"])
        self.assertTrue(ok, out)
        ok, out = openssl_verify(dc1.roots_pem(), first_cert(api["CertPEM"]), api["CertPEM"])
        self.assertTrue(ok, out)
        self.assertIn("initialized secondary datacenter CA", dc2.server.output())

        # The client agent's roots come from its servers.
        status, _, agent_roots = dc2.client.json("GET", "/v1/agent/connect/ca/roots")
        self.assertEqual(status, 200)
        self.assertEqual(agent_roots["ActiveRootID"], root1["ID"])

        # A rotation in the primary reaches the secondary: a new intermediate under the new root.
        status, _, body = dc1.server.http("PUT", "/v1/connect/ca/configuration", json.dumps(
            {"Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 384}}).encode())
        self.assertEqual(status, 200, body)
        new_root = wait_until(lambda: (lambda a: a if a and a["ID"] != root1["ID"] else None)(dc1.active()),
                              timeout=20, msg="dc1's new root")
        wait_until(lambda: (lambda a: a if a and a["ID"] == new_root["ID"] else None)(dc2.active()),
                   timeout=60, msg="dc2 follows the rotation")
        # The client agent renews its leaf for the new root; it carries the new intermediate.
        api2, _ = dc2.leaf("api", agent=dc2.client, index=api_index)
        ok, out = openssl_verify(dc2.roots_pem(), first_cert(api2["CertPEM"]), api2["CertPEM"])
        self.assertTrue(ok, out)
        ok, out = openssl_verify(dc1.roots_pem(), first_cert(api2["CertPEM"]), api2["CertPEM"])
        self.assertTrue(ok, out)
        # The old leaf still verifies with the chain it was issued with.
        ok, out = openssl_verify(dc2.roots_pem(), first_cert(api["CertPEM"]), api["CertPEM"])
        self.assertTrue(ok, out)
        # A new key type in dc2's own configuration: dc2 asks dc1 for a new intermediate.
        before = dc2.active()["SigningKeyID"]
        status, _, body = dc2.server.http("PUT", "/v1/connect/ca/configuration", json.dumps(
            {"Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 521}}).encode())
        self.assertEqual(status, 200, body)
        root = wait_until(lambda: (lambda a: a if a and a["SigningKeyID"] != before else None)(dc2.active()),
                          timeout=60, msg="dc2's new intermediate")
        cp = subprocess.run(["openssl", "x509", "-noout", "-text"], input=root["IntermediateCerts"][-1],
                            capture_output=True, text=True, timeout=30)
        self.assertIn("P-521", cp.stdout)
        self.assertEqual(root["ID"], new_root["ID"])


class TrustDomainMismatchTest(unittest.TestCase):
    def test_a_datacenter_with_its_own_ca_is_reported_in_the_log_and_status(self):
        dc1 = DC(self, "dc1")
        td1 = wait_until(lambda: (dc1.roots() or {}).get("TrustDomain"), timeout=30, msg="dc1's CA")
        # dc3 forgot primary_datacenter: it bootstraps a CA of its own.
        dc3 = DC(self, "dc3", wan_join="127.0.0.1:%d" % dc1.wan)
        td3 = wait_until(lambda: (dc3.roots() or {}).get("TrustDomain"), timeout=30, msg="dc3's CA")
        self.assertNotEqual(td1, td3)
        wait_until(lambda: "CA trust domain mismatch: datacenter 'dc3' has trust domain %s but "
                           "datacenter 'dc1' has %s" % (td3, td1) in dc1.server.output(),
                   timeout=60, msg="dc1's log names both trust domains")
        wait_until(lambda: "datacenter 'dc1' has trust domain %s" % td1 in dc3.server.output(),
                   timeout=60, msg="dc3's log too")

        def status_warns():
            cp = dc1.server.cli("status")
            return cp.stdout if "Connect trust: dc3 does not trust dc1: " in cp.stdout else None
        out = wait_until(status_warns, timeout=30, msg="status warns")
        self.assertIn("Trust domain:  %s" % td1, out)
        self.assertIn("Connect trust: dc3 does not trust dc1: x509: certificate signed by unknown "
                      "authority (dc1 trust domain %s, dc3 trust domain %s)" % (td1, td3), out)
        self.assertIn('Fix: set primary_datacenter = "dc1" on dc3\'s servers', out)
        cp = dc1.server.cli("status", "-format=json")
        doc = json.loads(cp.stdout)
        self.assertEqual(doc["ConnectCA"]["TrustDomainMismatch"], ["dc3"])
        self.assertEqual(doc["ConnectCA"]["Datacenters"]["dc3"], td3)


class RotationTest(unittest.TestCase):
    def setUp(self):
        self.a = dev_agent_with_ca(self)

    def roots(self):
        return self.a.json("GET", "/v1/connect/ca/roots")[2]

    def pem(self):
        return self.a.http("GET", "/v1/connect/ca/roots?pem=true")[2].decode()

    def leaf(self, index=None):
        path = "/v1/agent/connect/ca/leaf/web" + ("?index=%d&wait=20s" % index if index else "")
        status, headers, body = self.a.json("GET", path, timeout=40)
        self.assertEqual(status, 200, body)
        return body, int(headers["X-Consul-Index"])

    def put_config(self, body):
        return self.a.http("PUT", "/v1/connect/ca/configuration", json.dumps(body).encode())

    def test_rotation_with_cross_signing_keeps_old_and_new_leaves_valid(self):
        old_pem = self.pem()
        old_leaf, index = self.leaf()
        old_root = self.roots()["ActiveRootID"]
        status, _, body = self.put_config({"Provider": "consul", "Config": {"PrivateKeyType": "rsa",
                                                                              "PrivateKeyBits": 2048}})
        self.assertEqual((status, body), (200, b""))
        roots = self.roots()
        self.assertNotEqual(roots["ActiveRootID"], old_root)
        self.assertEqual(len(roots["Roots"]), 2)
        old = [r for r in roots["Roots"] if r["ID"] == old_root][0]
        self.assertFalse(old["Active"])
        new = [r for r in roots["Roots"] if r["Active"]][0]
        self.assertEqual((new["PrivateKeyType"], new["PrivateKeyBits"]), ("rsa", 2048))
        self.assertEqual(len(new["IntermediateCerts"]), 1)
        # Old leaves still verify against the roots list.
        ok, out = openssl_verify(self.pem(), old_leaf["CertPEM"])
        self.assertTrue(ok, out)
        # The agent renews on the root change: a blocking read past the old index returns it.
        new_leaf, new_index = self.leaf(index=index)
        self.assertGreater(new_index, index)
        self.assertNotEqual(new_leaf["SerialNumber"], old_leaf["SerialNumber"])
        self.assertEqual(new_leaf["CertPEM"].count("BEGIN CERTIFICATE"), 2)
        ok, out = openssl_verify(self.pem(), new_leaf["CertPEM"])
        self.assertTrue(ok, out)
        # A proxy that only trusts the old root accepts the new leaf through the cross-signed cert.
        ok, out = openssl_verify(old_pem, first_cert(new_leaf["CertPEM"]), new_leaf["CertPEM"])
        self.assertTrue(ok, out)

    def test_bring_your_own_root(self):
        # The tutorial's "shared root CA": an operator's key and certificate become the root.
        td = self.roots()["TrustDomain"]
        d = tempfile.mkdtemp(prefix="gangway-byo-")
        self.addCleanup(shutil.rmtree, d, True)
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        cp = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                             "-days", "3650", "-subj", "/CN=Shared Root",
                             "-addext", "basicConstraints=critical,CA:TRUE",
                             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                             "-addext", "subjectAltName=URI:spiffe://" + td],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(key) as f:
            key_pem = f.read()
        with open(cert) as f:
            cert_pem = f.read()
        _, index = self.leaf()
        status, _, body = self.put_config({"Provider": "consul",
                                           "Config": {"PrivateKey": key_pem, "RootCert": cert_pem}})
        self.assertEqual(status, 200, body)
        active = [r for r in self.roots()["Roots"] if r["Active"]][0]
        self.assertEqual(active["RootCert"].strip(), cert_pem.strip())
        leaf, _ = self.leaf(index=index)
        ok, out = openssl_verify(cert_pem, first_cert(leaf["CertPEM"]))
        self.assertTrue(ok, out)

    def test_force_without_cross_signing(self):
        old_pem = self.pem()
        _, index = self.leaf()
        status, _, body = self.put_config({"Provider": "consul", "ForceWithoutCrossSigning": True,
                                           "Config": {"PrivateKeyBits": 384}})
        self.assertEqual(status, 200, body)
        new = [r for r in self.roots()["Roots"] if r["Active"]][0]
        self.assertIsNone(new["IntermediateCerts"])
        leaf, _ = self.leaf(index=index)
        self.assertEqual(leaf["CertPEM"].count("BEGIN CERTIFICATE"), 1)
        ok, _ = openssl_verify(old_pem, leaf["CertPEM"])
        self.assertFalse(ok)
        ok, out = openssl_verify(self.pem(), leaf["CertPEM"])
        self.assertTrue(ok, out)

    def test_bad_configurations_get_consuls_errors_and_change_nothing(self):
        before = self.a.json("GET", "/v1/connect/ca/configuration")[2]
        roots_before = self.roots()
        cases = [
            ({"LeafCertTTL": "30m"}, "leaf cert TTL must be greater or equal than 1h0m0s"),
            ({"LeafCertTTL": "9000h"}, "leaf cert TTL must be less than 8760h0m0s"),
            ({"RootCert": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"},
             "must provide a private key when providing a root cert"),
            ({"PrivateKeyType": "dsa"}, "private key type must be either 'ec' or 'rsa'"),
            ({"PrivateKeyType": "ec", "PrivateKeyBits": 300},
             "EC key length must be one of (224, 256, 384, 521) bits"),
            ({"IntermediateCertTTL": "2h"}, "Intermediate Cert TTL must be greater or equal than 3h"),
        ]
        for config, message in cases:
            status, _, body = self.put_config({"Provider": "consul", "Config": config})
            self.assertEqual(status, 400, (config, body))
            self.assertIn(message, body.decode(), config)
        status, _, body = self.put_config({"Provider": "vault", "Config": {}})
        self.assertEqual(status, 400)
        self.assertIn('unknown CA provider "vault"', body.decode())
        status, _, body = self.a.http("PUT", "/v1/connect/ca/configuration", b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("Request decode failed", body.decode())
        self.assertEqual(self.a.json("GET", "/v1/connect/ca/configuration")[2], before)
        self.assertEqual(self.roots(), roots_before)
        # The agent still serves.
        self.leaf()

    def test_bad_bootstrap_ca_config_stops_the_agent_with_the_reason(self):
        d = tempfile.mkdtemp(prefix="gangway-ca-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = write_file(d, "bad.hcl", 'connect {\n  enabled = true\n  ca_config {\n'
                                       '    leaf_cert_ttl = "10m"\n  }\n}\n')
        a = Agent()
        self.addCleanup(a.stop)
        with self.assertRaises(AssertionError) as cm:
            a.start([], cfg)
        self.assertIn("connect.ca_config: leaf cert TTL must be greater or equal than 1h0m0s",
                      str(cm.exception))

    def test_csrs_for_another_trust_domain_or_with_two_uris_are_refused(self):
        td = self.roots()["TrustDomain"]
        d = tempfile.mkdtemp(prefix="gangway-csr-")
        self.addCleanup(shutil.rmtree, d, True)

        def csr(*uris):
            out = os.path.join(d, "req.csr")
            cp = subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(d, "k"),
                                 "-subj", "/CN=web", "-addext",
                                 "subjectAltName=" + ",".join("URI:" + u for u in uris), "-out", out],
                                capture_output=True, text=True, timeout=30)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            with open(out) as f:
                return f.read()

        def sign(pem):
            return self.a.http("PUT", "/v1/internal/connect/ca/sign", json.dumps({"CSR": pem}).encode())
        ok = "spiffe://%s/ns/default/dc/dc1/svc/web" % td
        status, _, body = sign(csr(ok))
        self.assertEqual(status, 200, body)
        self.assertEqual(uri_san(json.loads(body)["CertPEM"]), [ok])
        status, _, body = sign(csr("spiffe://other.consul/ns/default/dc/dc1/svc/web"))
        self.assertEqual(status, 400)
        self.assertIn("SPIFFE ID in CSR from a different trust domain: other.consul, we are %s" % td,
                      body.decode())
        status, _, body = sign(csr(ok, "spiffe://%s/ns/default/dc/dc1/svc/db" % td))
        self.assertEqual(status, 400)
        self.assertIn("CSR SAN contains an invalid number of URIs: 2", body.decode())
        status, _, body = sign("-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n")
        self.assertEqual(status, 400, body)

    def test_leaf_is_cached_and_blocks_until_renewed(self):
        first, index = self.leaf()
        again, index2 = self.leaf()
        self.assertEqual((again["SerialNumber"], index2), (first["SerialNumber"], index))
        # Nothing changes within the wait: the same leaf comes back after it.
        status, headers, body = self.a.json(
            "GET", "/v1/agent/connect/ca/leaf/web?index=%d&wait=1s" % index, timeout=20)
        self.assertEqual((status, body["SerialNumber"]), (200, first["SerialNumber"]))
        self.assertEqual(int(headers["X-Consul-Index"]), index)


class CAConfigCLITest(unittest.TestCase):
    """`gangway connect ca get-config` / `set-config` against a real dev agent."""

    def setUp(self):
        self.a = dev_agent_with_ca(self)

    def test_get_config_then_set_config_round_trip(self):
        cp = self.a.cli("connect", "ca", "get-config")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # Consul prints api.CAConfig with tabs, in the struct's field order.
        self.assertTrue(cp.stdout.startswith('{\n\t"Provider": "consul",\n\t"Config": {\n'),
                        cp.stdout)
        doc = json.loads(cp.stdout)
        self.assertEqual(list(doc), ["Provider", "Config", "State", "ForceWithoutCrossSigning",
                                     "CreateIndex", "ModifyIndex"])
        self.assertEqual(doc["Config"]["LeafCertTTL"], "72h")

        d = tempfile.mkdtemp(prefix="gangway-ca-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        good = write_file(d, "ca.json", json.dumps(
            {"Provider": "consul", "Config": {"LeafCertTTL": "24h", "IntermediateCertTTL": "288h"}}))
        cp = self.a.cli("connect", "ca", "set-config", "-config-file", good)
        self.assertEqual((cp.returncode, cp.stdout, cp.stderr), (0, "Configuration updated!\n", ""))
        after = json.loads(self.a.cli("connect", "ca", "get-config").stdout)
        self.assertEqual((after["Config"]["LeafCertTTL"], after["Config"]["IntermediateCertTTL"]),
                         ("24h", "288h"))
        self.assertGreater(after["ModifyIndex"], doc["ModifyIndex"])

        short = write_file(d, "short.json", '{"Provider": "consul", "Config": {"LeafCertTTL": "30m"}}')
        cp = self.a.cli("connect", "ca", "set-config", "-config-file", short)
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(cp.stderr, "Error setting CA configuration: Unexpected response code: 400 "
                                    "(leaf cert TTL must be greater or equal than 1h0m0s)\n")
        self.assertEqual(json.loads(self.a.cli("connect", "ca", "get-config").stdout), after)


if __name__ == "__main__":
    unittest.main()
