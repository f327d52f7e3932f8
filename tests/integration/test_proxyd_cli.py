"""The proxy process as a user starts it: `gangway connect proxy`, `connect envoy` and `gateway
mesh` refuse bad flags with a clear message and exit 1; a running proxy reports its admin port,
follows a stand-in for the agent's config endpoint (GET /v1/agent/connect/proxy/<id>), keeps
serving while the endpoint is gone, and drains and exits 0 on SIGTERM. An https agent address is
followed over TLS, verified against -ca-file."""

import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import subprocess
import threading
import unittest

from harness import _LineCollector, _stop_pid, closed_port, gangway_bin, run_gangway, wait_until
from test_tls import TwoCaTestCase

ADMIN_RE = re.compile(r"admin endpoint listening on 127\.0\.0\.1:(\d+)")
TESTDATA = os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "proxy-config")


def gateway_config(version):
    """testdata's mesh gateway, its listeners moved to 127.0.0.1 on ports the kernel picks."""
    with open(os.path.join(TESTDATA, "mesh-gateway.json"), encoding="utf-8") as f:
        config = json.load(f)
    config["Version"] = version
    for listener in config["Listeners"]:
        listener["Address"] = "127.0.0.1"
        listener["Port"] = 0
    return json.dumps(config)


class ConfigEndpoint:
    """Serves one proxy's config as a blocking query: at once when ?index differs from the
    version held, else when the version changes (or after 30 s)."""

    def __init__(self, port=0, tls=None):
        self.cond = threading.Condition()
        self.version = 0
        self.body = ""
        self.dead = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                m = re.match(r"^/v1/agent/connect/proxy/([^?]+)(?:\?(.*))?$", self.path)
                query = dict(p.split("=", 1) for p in (m.group(2) or "").split("&") if "=" in p) if m else {}
                with outer.cond:
                    if m and query.get("index") == str(outer.version):
                        outer.cond.wait_for(
                            lambda: outer.dead or query.get("index") != str(outer.version), 30)
                    if outer.dead:
                        # As an agent that dies: the held query ends without an answer.
                        self.close_connection = True
                        return
                    version, body = outer.version, outer.body
                if not m or version == 0:
                    self.send_response(404)
                    data = b'unknown proxy "x"'
                else:
                    self.send_response(200)
                    self.send_header("X-Consul-Index", str(version))
                    data = body.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        if tls:  # (cert, key): HTTPS
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, version, body):
        with self.cond:
            self.version, self.body = version, body
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.dead = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def start_proxy(test, args):
    """`gangway connect proxy <args>`, stopped at the test's end; its process, its stderr and
    the admin port it reports."""
    proc = subprocess.Popen([gangway_bin(), "connect", "proxy"] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    test.addCleanup(lambda: _stop_pid(proc))
    err = _LineCollector(proc.stderr, "proxy-stderr")
    _LineCollector(proc.stdout, "proxy-stdout")
    admin = int(wait_until(lambda: ADMIN_RE.search(err.text()), msg=err.text).group(1))
    return proc, err, admin


def admin_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class FlagErrorsTest(unittest.TestCase):
    def run_cli(self, *args):
        env = dict(os.environ)
        env["GANGWAY_HTTP_ADDR"] = "127.0.0.1:%d" % closed_port()
        return run_gangway(list(args), env=env, timeout=30)

    def test_connect_proxy_needs_sidecar_for_or_proxy_id(self):
        cp = self.run_cli("connect", "proxy")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("One of -sidecar-for or -proxy-id must be specified", cp.stderr)

    def test_only_mesh_gateways(self):
        cp = self.run_cli("connect", "envoy", "-gateway=terminating")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no Envoy process is started", cp.stderr)
        self.assertIn("Gangway supports only mesh gateways so far", cp.stderr)

    def test_unknown_flag(self):
        cp = self.run_cli("gateway", "mesh", "-bootstrap")
        self.assertEqual(cp.returncode, 1)
        self.assertTrue(cp.stderr.startswith("flag provided but not defined: -bootstrap"), cp.stderr)

    def test_sidecar_for_with_no_agent(self):
        cp = self.run_cli("connect", "proxy", "-sidecar-for", "web")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Failed looking up sidecar proxy info for web: ", cp.stderr)

    def test_ca_commands_still_reach_the_cli(self):
        cp = self.run_cli("connect", "ca", "get-config")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("connection refused", cp.stderr.lower())


class ProxyProcessTest(unittest.TestCase):
    def test_follows_the_endpoint_and_drains_on_sigterm(self):
        endpoint = ConfigEndpoint()
        self.addCleanup(lambda: endpoint.close())
        proc, err, admin = start_proxy(self, [
            "-proxy-id", "mesh-gateway", "-http-addr", "127.0.0.1:%d" % endpoint.port,
            "-admin-bind", "127.0.0.1:0", "-workers", "1", "-drain-timeout", "2s"])
        self.assertEqual(admin_get(admin, "/ready")[0], 503)  # no config yet

        endpoint.serve(7, gateway_config(7))
        wait_until(lambda: "applied config version 7: 2 listeners, 4 clusters" in err.text(),
                   msg=err.text)
        self.assertEqual(admin_get(admin, "/ready")[0], 200)
        self.assertEqual(json.loads(admin_get(admin, "/stats")[1])["Version"], 7)

        endpoint.serve(8, "{not json")
        wait_until(lambda: "config not applied, keeping version 7" in err.text(), msg=err.text)

        # The endpoint goes away: one warning, the proxy keeps its config.
        before = err.text().count("config query failed")
        port = endpoint.port
        endpoint.close()
        wait_until(lambda: "config query failed" in err.text(), msg=err.text)
        self.assertEqual(json.loads(admin_get(admin, "/stats")[1])["Version"], 7)

        # The agent is back but does not know the proxy yet (its registration is being
        # restored): a different failure within the streak is worth a second line.
        not_found = "config query failed: Unexpected response code: 404"
        seen = err.text().count(not_found)  # the one before the first config
        endpoint = ConfigEndpoint(port)
        wait_until(lambda: err.text().count(not_found) > seen, timeout=15, msg=err.text)
        endpoint.serve(9, gateway_config(9))
        wait_until(lambda: "applied config version 9" in err.text(), timeout=15, msg=err.text)
        self.assertEqual(err.text().count("config query failed"), before + 2, err.text())

        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0, err.text())
        err.join()
        self.assertIn("Caught signal: terminated", err.text())
        endpoint.close()


class HttpsAgentTest(TwoCaTestCase):
    def start_proxy(self, endpoint, ca_file):
        return start_proxy(self, [
            "-proxy-id", "mesh-gateway", "-http-addr", "https://127.0.0.1:%d" % endpoint.port,
            "-ca-file", ca_file, "-admin-bind", "127.0.0.1:0", "-workers", "1",
            "-drain-timeout", "1s"])

    def test_follows_an_https_agent_that_the_ca_file_trusts(self):
        endpoint = ConfigEndpoint(tls=(self.pki["server_cert"], self.pki["server_key"]))
        self.addCleanup(lambda: endpoint.close())
        endpoint.serve(3, gateway_config(3))
        proc, err, admin = self.start_proxy(endpoint, self.pki["ca"])
        self.assertIn("from https://127.0.0.1:%d/v1/agent/connect/proxy/mesh-gateway"
                      % endpoint.port, err.text())
        wait_until(lambda: "applied config version 3" in err.text(), msg=err.text)
        self.assertEqual(admin_get(admin, "/ready")[0], 200)
        # A blocking query over TLS: the next version arrives on the held request's answer.
        endpoint.serve(4, gateway_config(4))
        wait_until(lambda: "applied config version 4" in err.text(), msg=err.text)
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0, err.text())

    def test_an_agent_certificate_from_another_ca_is_refused(self):
        endpoint = ConfigEndpoint(tls=(self.other["server_cert"], self.other["server_key"]))
        self.addCleanup(lambda: endpoint.close())
        endpoint.serve(3, gateway_config(3))
        proc, err, admin = self.start_proxy(endpoint, self.pki["ca"])
        line = wait_until(lambda: re.search(r"config query failed: TLS handshake with [^\n]*", err.text()),
                          msg=err.text).group(0)
        self.assertIn("certificate signed by unknown authority", line)
        self.assertEqual(admin_get(admin, "/ready")[0], 503)
        self.assertNotIn("applied config", err.text())


if __name__ == "__main__":
    unittest.main()
