"""gRPC and H2PING checks against real agents and a gRPC health server (grpc_health_server.py).
A GRPC check follows the server's SERVING / NOT_SERVING status, asks for a named service, and is
critical with grpc-go's dial error when nothing listens, or with its deadline error when the
server never answers; an H2PING check passes against h2c and TLS servers and goes critical once
the server stops. Outputs are Consul's."""

import os
import socket
import subprocess
import tempfile
import unittest

import grpc_health_server as ghs
from harness import Agent, closed_port, wait_until


def check(agent, check_id):
    return agent.get("/v1/agent/checks").get(check_id)


def wait_status(agent, check_id, status, output=None, timeout=30):
    """Waits until the check has `status` (and `output` when given) and returns it."""
    def ready():
        c = check(agent, check_id)
        if c and c["Status"] == status and (output is None or c["Output"] == output):
            return c
        return None
    return wait_until(ready, timeout=timeout,
                      msg=lambda: "%s %s (%r): now %r" % (check_id, status, output,
                                                          check(agent, check_id)))


def catalog_row(agent, check_id):
    """The check's row in the catalog, once anti-entropy has written it."""
    def row():
        rows = [c for c in agent.get("/v1/health/node/" + agent.node) if c["CheckID"] == check_id]
        return rows[0] if rows else None
    return wait_until(row, timeout=30, msg="%s in the catalog" % check_id)


def register(agent, body):
    status, _, text = agent.http("PUT", "/v1/agent/check/register", body)
    if status != 200:
        raise AssertionError("register %r: %s %s" % (body, status, text))


@unittest.skipIf(ghs.grpc is None, "python3-grpcio is not installed (scripts/install-deps)")
class GrpcCheckTest(unittest.TestCase):
    def setUp(self):
        self.server = ghs.GrpcHealthServer()
        self.addCleanup(self.server.stop)
        self.agent = Agent()
        self.addCleanup(self.agent.stop)
        self.agent.start()

    def test_follows_the_server(self):
        a, addr = self.agent, self.server.addr
        self.server.set_status("web", ghs.SERVING)
        register(a, {"ID": "g", "Name": "grpc", "GRPC": addr, "Interval": "1s", "Timeout": "5s"})
        register(a, {"ID": "g-web", "Name": "grpc web", "GRPC": addr + "/web", "Interval": "1s"})
        register(a, {"ID": "g-nope", "Name": "grpc nope", "GRPC": addr + "/nope", "Interval": "1s"})

        c = wait_status(a, "g", "passing", "gRPC check %s: success" % addr)
        self.assertEqual(c["Type"], "grpc")
        wait_status(a, "g-web", "passing", "gRPC check %s/web: success" % addr)
        wait_status(a, "g-nope", "critical", "rpc error: code = NotFound desc = unknown service")

        self.server.set_status("", ghs.NOT_SERVING)
        wait_status(a, "g", "critical", "gRPC %s serving status: NOT_SERVING" % addr)
        self.server.set_status("", ghs.SERVING)
        wait_status(a, "g", "passing", "gRPC check %s: success" % addr)
        # The named service has a status of its own.
        self.server.set_status("web", ghs.SERVICE_UNKNOWN)
        wait_status(a, "g-web", "critical", "gRPC %s/web serving status: SERVICE_UNKNOWN" % addr)
        self.assertEqual(check(a, "g")["Status"], "passing")

        # In the catalog with its definition.
        row = catalog_row(a, "g-web")
        self.assertEqual(row["Definition"]["GRPC"], addr + "/web")
        self.assertEqual(row["Type"], "grpc")

    def test_closed_port_is_critical(self):
        port = closed_port()
        register(self.agent, {"ID": "g", "Name": "grpc", "GRPC": "127.0.0.1:%d" % port,
                              "Interval": "1s"})
        wait_status(self.agent, "g", "critical",
                    'rpc error: code = Unavailable desc = connection error: desc = "transport: '
                    'Error while dialing: dial tcp 127.0.0.1:%d: connect: connection refused"'
                    % port)

    def test_silent_server_times_out(self):
        # Connections complete in the kernel's backlog, but nothing ever answers.
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        addr = "127.0.0.1:%d" % silent.getsockname()[1]
        register(self.agent, {"ID": "g", "Name": "grpc", "GRPC": addr, "Interval": "1s",
                              "Timeout": "300ms"})
        register(self.agent, {"ID": "h", "Name": "h2c", "H2PING": addr, "H2PingUseTLS": False,
                              "Interval": "1s", "Timeout": "300ms"})
        wait_status(self.agent, "g", "critical",
                    "rpc error: code = DeadlineExceeded desc = context deadline exceeded")
        wait_status(self.agent, "h", "critical", "HTTP2 ping failed: context deadline exceeded")

    def test_bad_target_is_refused_naming_the_field(self):
        status, _, body = self.agent.http("PUT", "/v1/agent/check/register",
                                          {"ID": "g", "Name": "grpc", "GRPC": "localhost/web",
                                           "Interval": "1s"})
        self.assertEqual(status, 400, body)
        self.assertIn('GRPC must be "host:port" or "host:port/service"; got "localhost/web"',
                      body.decode())


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1 and localhost: (key PEM, cert PEM)."""
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    cp = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                         "-days", "1", "-subj", "/CN=localhost",
                         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                        capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise AssertionError("openssl: %s" % cp.stderr)
    with open(key, "rb") as k, open(cert, "rb") as c:
        return k.read(), c.read()


@unittest.skipIf(ghs.grpc is None, "python3-grpcio is not installed (scripts/install-deps)")
class H2PingCheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="gangway-h2ping-")
        self.addCleanup(self.dir.cleanup)
        key, cert = make_cert(self.dir.name)
        self.h2c = ghs.GrpcHealthServer()
        self.addCleanup(self.h2c.stop)
        self.tls = ghs.GrpcHealthServer(tls_key=key, tls_cert=cert)
        self.addCleanup(self.tls.stop)
        self.agent = Agent()
        self.addCleanup(self.agent.stop)
        self.agent.start()

    def test_passes_while_served_and_fails_when_stopped(self):
        a = self.agent
        register(a, {"ID": "h2c", "Name": "h2c", "H2PING": self.h2c.addr, "H2PingUseTLS": False,
                     "Interval": "1s", "Timeout": "5s"})
        register(a, {"ID": "h2", "Name": "h2", "H2PING": self.tls.addr, "TLSSkipVerify": True,
                     "Interval": "1s"})
        # TLS is the default, and the self-signed certificate is not trusted without TLSSkipVerify.
        register(a, {"ID": "h2-verify", "Name": "h2 verify", "H2PING": self.tls.addr,
                     "Interval": "1s"})
        register(a, {"ID": "g-tls", "Name": "grpc tls", "GRPC": self.tls.addr, "GRPCUseTLS": True,
                     "TLSSkipVerify": True, "TLSServerName": "localhost", "Interval": "1s"})

        c = wait_status(a, "h2c", "passing", "HTTP2 ping was successful")
        self.assertEqual(c["Type"], "h2ping")
        wait_status(a, "h2", "passing", "HTTP2 ping was successful")
        wait_status(a, "g-tls", "passing", "gRPC check %s: success" % self.tls.addr)
        c = wait_status(a, "h2-verify", "critical")
        self.assertTrue(c["Output"].startswith("Failed to dial to %s: tls: " % self.tls.addr),
                        c["Output"])
        self.assertIn("x509:", c["Output"])
        row = catalog_row(a, "h2")
        self.assertEqual(row["Definition"]["H2PING"], self.tls.addr)
        self.assertTrue(row["Definition"]["H2PingUseTLS"])

        self.h2c.stop()
        wait_status(a, "h2c", "critical",
                    "Failed to dial to %s: dial tcp %s: connect: connection refused"
                    % (self.h2c.addr, self.h2c.addr))
        self.tls.stop()
        wait_status(a, "h2", "critical",
                    "Failed to dial to %s: dial tcp %s: connect: connection refused"
                    % (self.tls.addr, self.tls.addr))


if __name__ == "__main__":
    unittest.main()
