"""Agent TLS end to end: certificates made by `gangway tls`, an agent serving HTTPS with them,
clients that trust the CA (python ssl, curl, the gangway CLI), and clients that must be refused
(a server from another CA, a client without a certificate or with one from another CA under
verify_incoming), with the messages users search for.
"""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import Agent, describe, run_gangway, unique_node, wait_until
from test_raft import free_ports

HTTPS_RE = re.compile(r"Started HTTPS server: address=(\S+):(\d+) network=tcp")


def free_port():
    return free_ports(1)[0]


def make_pki(directory, dc="dc1"):
    """CA + server + client + cli certificates in `directory`, made by the CLI."""
    os.makedirs(directory, exist_ok=True)
    for args in (["tls", "ca", "create"],
                 ["tls", "cert", "create", "-server", "-dc", dc],
                 ["tls", "cert", "create", "-client", "-dc", dc],
                 ["tls", "cert", "create", "-cli", "-dc", dc]):
        cp = run_gangway(args, cwd=directory)
        if cp.returncode != 0:
            raise AssertionError(describe(cp))
    return {
        "ca": os.path.join(directory, "consul-agent-ca.pem"),
        "server_cert": os.path.join(directory, "%s-server-consul-0.pem" % dc),
        "server_key": os.path.join(directory, "%s-server-consul-0-key.pem" % dc),
        "client_cert": os.path.join(directory, "%s-client-consul-0.pem" % dc),
        "client_key": os.path.join(directory, "%s-client-consul-0-key.pem" % dc),
        "cli_cert": os.path.join(directory, "%s-cli-consul-0.pem" % dc),
        "cli_key": os.path.join(directory, "%s-cli-consul-0-key.pem" % dc),
    }


def ca_name(ca_file):
    cp = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline",
                         "-in", ca_file], capture_output=True, text=True)
    m = re.search(r"commonName\s*=\s*(.+)", cp.stdout)
    return m.group(1).strip() if m else None


class TwoCaTestCase(unittest.TestCase):
    """Certificates of two CAs, made by the CLI: self.pki (trusted) and self.other."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gangway-%s-" % cls.__name__)
        cls.pki = make_pki(os.path.join(cls.tmp, "good"))
        cls.other = make_pki(os.path.join(cls.tmp, "other"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)


class TLSTest(TwoCaTestCase):

    def start_agent(self, tls_block, legacy=""):
        port = free_port()
        conf = os.path.join(self.tmp, "tls-%s.hcl" % unique_node("c"))
        with open(conf, "w") as f:
            f.write("ports { https = %d }\n%s\ntls {\n%s\n}\n" % (port, legacy, tls_block))
        a = Agent(node=unique_node("tls"))
        a.start([], conf)
        self.addCleanup(a.stop)
        m = wait_until(lambda: HTTPS_RE.search(a.stderr_text()), timeout=10,
                       msg=lambda: "HTTPS listener line\n" + a.output())
        self.assertEqual(int(m.group(2)), port)
        return a, port

    def defaults(self, verify_incoming=False, pki=None):
        p = pki or self.pki
        return ('defaults {\n  ca_file = "%s"\n  cert_file = "%s"\n  key_file = "%s"\n'
                '  verify_incoming = %s\n}\n' % (p["ca"], p["server_cert"], p["server_key"],
                                                 "true" if verify_incoming else "false"))

    def https_get(self, port, path, cafile, cert=None, key=None, server_name="localhost"):
        ctx = ssl.create_default_context(cafile=cafile)
        if cert:
            ctx.load_cert_chain(cert, key)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" %
                           path).encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def test_https_serves_the_api_to_clients_that_trust_the_ca(self):
        a, port = self.start_agent(self.defaults())
        status, body = self.https_get(port, "/v1/agent/self", self.pki["ca"])
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["Config"]["NodeName"], a.node)
        # The plain HTTP listener keeps working.
        self.assertEqual(a.get("/v1/agent/self")["Config"]["NodeName"], a.node)
        if shutil.which("curl"):
            cp = subprocess.run(["curl", "-sS", "--cacert", self.pki["ca"],
                                 "https://127.0.0.1:%d/v1/status/leader" % port],
                                capture_output=True, text=True, timeout=30)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            self.assertIn("127.0.0.1", cp.stdout)

        # The CLI over HTTPS, with -ca-file and with CONSUL_CACERT + CONSUL_HTTP_SSL.
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.pki["ca"])
        self.assertEqual(cp.returncode, 0, describe(cp))
        self.assertIn(a.node, cp.stdout)
        cp = a.cli("kv", "put", "tls/key", "v",
                   env={"GANGWAY_HTTP_ADDR": None, "CONSUL_HTTP_ADDR": "127.0.0.1:%d" % port,
                        "CONSUL_HTTP_SSL": "true", "CONSUL_CACERT": self.pki["ca"]})
        self.assertEqual(cp.returncode, 0, describe(cp))
        self.assertEqual(cp.stdout, "Success! Data written to: tls/key\n")

        # A client that trusts another CA is refused with Go's words and the CA it expected.
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https_get(port, "/v1/agent/self", self.other["ca"])
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.other["ca"])
        self.assertEqual(cp.returncode, 1, describe(cp))
        self.assertIn('Get "https://127.0.0.1:%d/v1/agent/members": tls: failed to verify '
                      "certificate: x509: certificate signed by unknown authority" % port, cp.stderr)
        self.assertIn('expected CA "%s"' % ca_name(self.other["ca"]), cp.stderr)
        self.assertIn('issued by "%s"' % ca_name(self.pki["ca"]), cp.stderr)
        # The name in the certificate is checked: server.dc1.consul is in it, server.dc2 is not.
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.pki["ca"], "-tls-server-name=server.dc1.consul")
        self.assertEqual(cp.returncode, 0, describe(cp))
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.pki["ca"], "-tls-server-name=server.dc2.consul")
        self.assertEqual(cp.returncode, 1, describe(cp))
        self.assertIn("x509: certificate is valid for server.dc1.consul, localhost, 127.0.0.1, "
                      "not server.dc2.consul", cp.stderr)

    def test_verify_incoming_requires_a_client_certificate_from_the_ca(self):
        a, port = self.start_agent(self.defaults(verify_incoming=True))
        status, _ = self.https_get(port, "/v1/agent/self", self.pki["ca"],
                                   self.pki["client_cert"], self.pki["client_key"])
        self.assertEqual(status, 200)

        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            self.https_get(port, "/v1/agent/self", self.pki["ca"])
        wait_until(lambda: "tls: client didn't provide a certificate" in a.stderr_text(),
                   timeout=5, msg=lambda: a.output())

        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            self.https_get(port, "/v1/agent/self", self.pki["ca"],
                           self.other["client_cert"], self.other["client_key"])
        wait_until(lambda: re.search(r"http: TLS handshake error from 127\.0\.0\.1:\d+: tls: "
                                     r"failed to verify certificate: x509: certificate signed "
                                     r"by unknown authority .*expected CA \"%s\"" %
                                     re.escape(ca_name(self.pki["ca"])), a.stderr_text()),
                   timeout=5, msg=lambda: a.output())

        # The CLI with its cli certificate gets in; without one it is told why.
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.pki["ca"], "-client-cert=%s" % self.pki["cli_cert"],
                   "-client-key=%s" % self.pki["cli_key"])
        self.assertEqual(cp.returncode, 0, describe(cp))
        cp = a.cli("members", "-http-addr=https://127.0.0.1:%d" % port,
                   "-ca-file=%s" % self.pki["ca"])
        self.assertEqual(cp.returncode, 1, describe(cp))
        self.assertIn("remote error: tls: certificate required", cp.stderr)

    def test_https_settings_override_defaults_and_legacy_keys_work(self):
        # Legacy top-level keys feed tls.defaults; tls.https overrides verify_incoming.
        legacy = 'ca_file = "%s"\ncert_file = "%s"\nkey_file = "%s"\nverify_incoming = true\n' % (
            self.pki["ca"], self.pki["server_cert"], self.pki["server_key"])
        a, port = self.start_agent("https { verify_incoming = false }", legacy)
        status, _ = self.https_get(port, "/v1/agent/self", self.pki["ca"])
        self.assertEqual(status, 200)
        self.assertIn("The 'ca_file' field is deprecated", a.stderr_text())

    def test_bad_tls_files_stop_the_agent_with_the_file_named(self):
        cases = [
            ('defaults { ca_file = "%s/nope.pem"\n cert_file = "%s"\n key_file = "%s" }' % (
                self.tmp, self.pki["server_cert"], self.pki["server_key"]),
             "Failed to read ca_file: open %s/nope.pem: no such file or directory" % self.tmp),
            ('defaults { cert_file = "%s"\n key_file = "%s" }' % (
                self.pki["server_cert"], self.other["server_key"]),
             "tls: private key does not match public key (cert_file %s" % self.pki["server_cert"]),
            ('defaults { cert_file = "%s"\n key_file = "%s" }' % (
                self.pki["server_key"], self.pki["server_key"]),
             "first PEM-block should be CERTIFICATE type, got EC PRIVATE KEY"),
            ('defaults { verify_incoming = true\n cert_file = "%s"\n key_file = "%s" }' % (
                self.pki["server_cert"], self.pki["server_key"]),
             "verify_incoming is set but no ca_file or ca_path is configured"),
        ]
        for block, want in cases:
            conf = os.path.join(self.tmp, "bad-%s.hcl" % unique_node("b"))
            with open(conf, "w") as f:
                f.write("ports { https = %d }\ntls {\n%s\n}\n" % (free_port(), block))
            a = Agent(node=unique_node("bad"))
            argv = a.command([], conf)
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
            self.assertNotEqual(cp.returncode, 0, cp.stderr)
            self.assertIn(want, cp.stderr + cp.stdout)


if __name__ == "__main__":
    unittest.main()
