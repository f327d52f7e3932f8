"""TLS on the server RPC port (mode 0x03) between real processes: a -dev server with
verify_incoming and verify_server_hostname, client agents that forward to it over TLS. Certificates
are made by `gangway tls`. A client with the right CA and a client certificate works; one trusting
another CA fails with Go's words and the CA it expected; one without a certificate, and one
speaking plaintext, are refused with a clear error; unreadable files stop a server naming the file.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, describe, unique_node, wait_until
from test_tls import ca_name, make_pki

SERF_LAN_RE = re.compile(r"agent\.server\.serf\.lan: serf: started gossip: address=(\S+)")


def tls_block(ca, cert=None, key=None, verify_incoming=False, verify_outgoing=True,
              verify_server_hostname=True):
    lines = ['  ca_file = "%s"' % ca]
    if cert:
        lines += ['  cert_file = "%s"' % cert, '  key_file = "%s"' % key]
    lines += ["  verify_incoming = %s" % ("true" if verify_incoming else "false"),
              "  verify_outgoing = %s" % ("true" if verify_outgoing else "false")]
    return ("tls {\n defaults {\n%s\n }\n internal_rpc { verify_server_hostname = %s }\n}\n" %
            ("\n".join(lines), "true" if verify_server_hostname else "false"))


class RpcTLSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gangway-rpc-tls-it-")
        cls.pki = make_pki(os.path.join(cls.tmp, "good"))
        cls.other = make_pki(os.path.join(cls.tmp, "other"))
        cls.server = Agent(node=unique_node("rpctls-srv"))
        conf = cls.write("server.hcl", tls_block(cls.pki["ca"], cls.pki["server_cert"],
                                                cls.pki["server_key"], verify_incoming=True))
        cls.server.start([], conf)
        m = wait_until(lambda: SERF_LAN_RE.search(cls.server.stderr_text()), timeout=10,
                       msg=lambda: "LAN gossip address\n" + cls.server.output())
        cls.lan = m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def write(cls, name, text):
        path = os.path.join(cls.tmp, "%s-%s" % (unique_node("f"), name))
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_client(self, config_text):
        c = Agent(node=unique_node("rpctls-cli"), dev=False)
        self.addCleanup(c.stop)
        args = ["-retry-join", self.lan, "-retry-interval", "1s"]
        if config_text:
            c.start(args, self.write("client.hcl", config_text))
        else:
            c.start(args)
        wait_until(lambda: self.server.node in [m["Name"] for m in c.get("/v1/agent/members")],
                   timeout=15, msg=lambda: "the client sees the server\n" + c.output())
        return c

    def forwarded_failure(self, client):
        """A read the client must forward to the server: (status, body)."""
        status, _, body = client.http("GET", "/v1/kv/rpc-tls/key")
        return status, body.decode("utf-8", "replace")

    def test_right_ca_and_client_certificate_forward_over_tls(self):
        c = self.start_client(tls_block(self.pki["ca"], self.pki["client_cert"],
                                        self.pki["client_key"]))
        cp = c.cli("kv", "put", "rpc-tls/key", "secret")
        self.assertEqual(cp.returncode, 0, describe(cp) + c.output()[-3000:])
        self.assertEqual(cp.stdout, "Success! Data written to: rpc-tls/key\n")
        cp = c.cli("kv", "get", "rpc-tls/key")
        self.assertEqual(cp.stdout, "secret\n", describe(cp))
        cp = self.server.cli("kv", "get", "rpc-tls/key")
        self.assertEqual(cp.stdout, "secret\n", describe(cp))
        self.assertNotIn("TLS handshake error", c.stderr_text())

    def test_client_trusting_another_ca_fails_with_unknown_authority(self):
        c = self.start_client(tls_block(self.other["ca"], self.other["client_cert"],
                                        self.other["client_key"]))
        status, body = self.forwarded_failure(c)
        self.assertEqual(status, 500, body)
        self.assertIn("rpc: TLS handshake with 127.0.0.1:", body)
        self.assertIn("tls: failed to verify certificate: x509: certificate signed by unknown "
                      "authority", body)
        self.assertIn('issued by "%s"' % ca_name(self.pki["ca"]), body)
        self.assertIn('expected CA "%s"' % ca_name(self.other["ca"]), body)
        self.assertIn(self.other["ca"], body)
        # The server logs its side of the failed handshake with the peer's address.
        wait_until(lambda: re.search(r"rpc: TLS handshake error from 127\.0\.0\.1:\d+: ",
                                     self.server.stderr_text()),
                   timeout=5, msg=lambda: self.server.output()[-3000:])

    def test_verify_incoming_refuses_a_client_without_a_certificate(self):
        c = self.start_client(tls_block(self.pki["ca"]))
        status, body = self.forwarded_failure(c)
        self.assertEqual(status, 500, body)
        self.assertIn("rpc: TLS handshake with 127.0.0.1:", body)
        self.assertIn("remote error: tls: certificate required", body)
        wait_until(lambda: re.search(r"rpc: TLS handshake error from 127\.0\.0\.1:\d+: tls: "
                                     r"client didn't provide a certificate",
                                     self.server.stderr_text()),
                   timeout=5, msg=lambda: self.server.output()[-3000:])

    def test_verify_incoming_refuses_a_plaintext_client(self):
        c = self.start_client("")
        status, body = self.forwarded_failure(c)
        self.assertEqual(status, 500, body)
        self.assertIn("rpc: server requires TLS (verify_incoming)", body)
        wait_until(lambda: re.search(r"rpc: refusing a non-TLS connection from 127\.0\.0\.1:\d+: "
                                     r"verify_incoming is set", self.server.stderr_text()),
                   timeout=5, msg=lambda: self.server.output()[-3000:])

    def test_a_server_with_verify_incoming_only_warns_that_its_raft_dials_are_plaintext(self):
        conf = self.write("half.hcl", tls_block(self.pki["ca"], self.pki["server_cert"],
                                                self.pki["server_key"], verify_incoming=True,
                                                verify_outgoing=False, verify_server_hostname=False))
        a = Agent(node=unique_node("rpctls-half"), dev=False)
        self.addCleanup(a.stop)
        a.start(["-server", "-bootstrap"], conf)
        wait_until(lambda: "verify_incoming is set but verify_outgoing is not" in a.stderr_text(),
                   timeout=10, msg=lambda: a.output()[-3000:])

    def test_bad_rpc_tls_files_stop_the_server_naming_the_file(self):
        missing = os.path.join(self.tmp, "nope.pem")
        conf = self.write("bad.hcl", tls_block(missing, self.pki["server_cert"],
                                               self.pki["server_key"]))
        a = Agent(node=unique_node("rpctls-bad"))
        cp = subprocess.run(a.command([], conf), capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("Failed to configure RPC TLS: Failed to read ca_file: open %s: no such file "
                      "or directory" % missing, cp.stderr)


if __name__ == "__main__":
    unittest.main()
