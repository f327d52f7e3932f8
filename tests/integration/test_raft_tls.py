"""Raft inside TLS between real server processes (docs/rpc.md, "Raft (mode 0x01)"). Servers with
verify_incoming, verify_outgoing and verify_server_hostname and certificates made by `gangway tls`
(three -server certificates for dc1 from one CA): they elect a leader and replicate a KV write,
every Raft connection inside TLS (their verify_incoming refuses plaintext Raft). A plaintext 0x01
sent to such a server is closed, and its log says why. A server whose certificate comes from
another CA cannot join Raft: its dials fail with x509's unknown-authority words in its log, while
the two others elect a leader and replicate without it.
"""

import os
import re
import shutil
import socket
import struct
import tempfile
import time
import unittest

from harness import Agent, describe, run_gangway, wait_until
from test_raft import Cluster


def make_server_pki(directory, n):
    """A CA and n server certificates for dc1 (dc1-server-consul-<i>.pem), made by the CLI."""
    os.makedirs(directory, exist_ok=True)
    cp = run_gangway(["tls", "ca", "create"], cwd=directory)
    if cp.returncode != 0:
        raise AssertionError(describe(cp))
    for _ in range(n):
        cp = run_gangway(["tls", "cert", "create", "-server", "-dc", "dc1"], cwd=directory)
        if cp.returncode != 0:
            raise AssertionError(describe(cp))
    return {
        "ca": os.path.join(directory, "consul-agent-ca.pem"),
        "certs": [(os.path.join(directory, "dc1-server-consul-%d.pem" % i),
                   os.path.join(directory, "dc1-server-consul-%d-key.pem" % i)) for i in range(n)],
    }


def server_tls_block(ca, cert, key):
    return ('tls {\n defaults {\n  ca_file = "%s"\n  cert_file = "%s"\n  key_file = "%s"\n'
            '  verify_incoming = true\n  verify_outgoing = true\n }\n'
            ' internal_rpc { verify_server_hostname = true }\n}\n' % (ca, cert, key))


class TLSCluster(Cluster):
    """test_raft's Cluster (three servers, bootstrap_expect = 3, no clients) whose servers each get
    a TLS configuration file: tls_files[i] = (ca, cert, key) for the i-th server by name."""

    def __init__(self, testcase, tls_files):
        self.tls_files = tls_files
        super().__init__(testcase, n_servers=len(tls_files), n_clients=0)

    def start_server(self, name):
        sp = self.spec[name]
        ca, cert, key = self.tls_files[sorted(self.spec).index(name)]
        conf = os.path.join(self.root, name + "-tls.hcl")
        with open(conf, "w") as f:
            f.write(server_tls_block(ca, cert, key))
        a = Agent(node=name, workdir=sp["data"] + "-work")
        os.makedirs(a.workdir, exist_ok=True)
        a.command = lambda extra=(), *files: [
            os.environ.get("GANGWAY_BIN") or "gangway", "agent", "-server", "-bootstrap-expect", "3",
            "-node", name, "-data-dir", sp["data"], "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", str(sp["http"]), "-dns-port", "-1", "-serf-lan-port", str(sp["lan"]),
            "-serf-wan-port", str(sp["wan"]), "-server-port", str(sp["rpc"]),
            "-datacenter", self.dc, "-config-file", conf,
            "-retry-join", "127.0.0.1:%d" % self.first_lan, "-retry-interval", "1s"]
        self.tc.addCleanup(a.stop)
        a.start([])
        return a


class RaftTLSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gangway-raft-tls-it-")
        cls.good = make_server_pki(os.path.join(cls.tmp, "good"), 3)
        cls.other = make_server_pki(os.path.join(cls.tmp, "other"), 1)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def files(self, pki, i):
        return (pki["ca"],) + pki["certs"][i]

    def test_tls_servers_elect_replicate_and_refuse_plaintext_raft(self):
        t0 = time.monotonic()
        c = TLSCluster(self, [self.files(self.good, i) for i in range(3)])
        leader = wait_until(c.leader, timeout=30, msg=lambda: "a leader every server agrees on\n" +
                            "\n".join(a.output()[-3000:] for a in c.servers))
        elected = time.monotonic() - t0
        for a in c.servers:
            self.assertRegex(a.stderr_text(), r"raft: started: address=127\.0\.0\.1:%d tls=true"
                             % c.spec[a.node]["rpc"])
        peers = c.servers[0].get("/v1/operator/raft/configuration")["Servers"]
        self.assertEqual(len(peers), 3)

        # A write through a follower reaches the leader (RPC over TLS) and every replica (Raft
        # inside TLS).
        follower = [a for a in c.servers if a.node != leader][0]
        cp = follower.cli("kv", "put", "raft-tls/key", "replicated")
        self.assertEqual(cp.returncode, 0, describe(cp) + follower.output()[-3000:])
        for a in c.servers:
            wait_until(lambda: a.http("GET", "/v1/kv/raft-tls/key?raw&stale")[2] == b"replicated",
                       timeout=10, msg=lambda: "the write on " + a.node + "\n" + a.output()[-3000:])
        for a in c.servers:
            self.assertNotIn("refusing a plaintext Raft connection", a.stderr_text())

        # Plaintext Raft (0x01 and a well-formed handshake) to a verify_incoming server: closed,
        # with no answer byte, and the server says why.
        target = c.agent(leader)
        port = c.spec[leader]["rpc"]
        addr = b"127.0.0.1:1"
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(b"\x01" + struct.pack(">QQH", 1, 4242, len(addr)) + addr)
            try:
                got = s.recv(16)
            except ConnectionResetError:
                got = b""
        finally:
            s.close()
        self.assertEqual(got, b"")
        wait_until(lambda: re.search(
            r"rpc: refusing a plaintext Raft connection \(mode 0x01\) from 127\.0\.0\.1:\d+: "
            r"verify_incoming is set; the peer must use TLS", target.stderr_text()),
            timeout=5, msg=lambda: target.output()[-3000:])
        # The leader still leads and replicates.
        cp = target.cli("kv", "put", "raft-tls/after", "still")
        self.assertEqual(cp.returncode, 0, describe(cp))
        print("\n  3 TLS servers: leader after %.1fs from the first start" % elected)

    def test_a_server_from_another_ca_cannot_join_raft(self):
        c = TLSCluster(self, [self.files(self.good, 0), self.files(self.good, 1),
                              self.files(self.other, 0)])
        names = sorted(c.spec)
        good, foreign = [c.agent(n) for n in names[:2]], c.agent(names[2])
        leader = wait_until(lambda: c.leader(good), timeout=30,
                            msg=lambda: "a leader among the two servers of the right CA\n" +
                            "\n".join(a.output()[-3000:] for a in c.servers))
        self.assertIn(leader, names[:2])
        cp = good[0].cli("kv", "put", "raft-tls/two", "of-three")
        self.assertEqual(cp.returncode, 0, describe(cp))
        for a in good:
            wait_until(lambda: a.http("GET", "/v1/kv/raft-tls/two?raw&stale")[2] == b"of-three",
                       timeout=10, msg=lambda: a.output()[-3000:])

        # The foreign server's dials fail verifying the others' certificates (Go's words, the CA
        # it expected); it never gets a leader or the write.
        for n in names[:2]:
            wait_until(lambda: re.search(
                r"raft: cannot connect to peer 127\.0\.0\.1:%d: rpc: TLS handshake with "
                r"127\.0\.0\.1:%d failed: tls: failed to verify certificate: x509: certificate "
                r"signed by unknown authority .*expected CA" % (c.spec[n]["rpc"], c.spec[n]["rpc"]),
                foreign.stderr_text()),
                timeout=15, msg=lambda: foreign.output()[-3000:])
        status, _, body = foreign.http("GET", "/v1/status/leader")
        self.assertEqual((status, body), (200, b'""'))
        status, _, _ = foreign.http("GET", "/v1/kv/raft-tls/two?stale")
        self.assertEqual(status, 404)
        # And the two others refuse its certificate on their side.
        self.assertTrue(any(re.search(r"rpc: TLS handshake error from 127\.0\.0\.1:\d+: ",
                                      a.stderr_text()) for a in good),
                        "\n".join(a.output()[-2000:] for a in good))


if __name__ == "__main__":
    unittest.main()
