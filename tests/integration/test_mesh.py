"""The mesh carrying bytes across two datacenters on loopback (tests/integration/mesh.py): which
processes carry a request in each mesh gateway mode, what happens when a gateway dies, and how
gateways and sidecars refuse bad input and keep serving."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import wait_until
from mesh import PAYLOAD_SIZE, MeshTestCase, listener_bytes, payload
from test_raft import free_ports

UPSTREAM = "upstream:api?dc=dc2"


class ModesTest(MeshTestCase):
    """A request from web's upstream port reaches api in dc2; each proxy's /stats says which
    processes carried it."""

    def carriers(self, path):
        """Sends one request; returns {proxy name: bytes its listener moved} for it."""
        m = self.mesh
        taps = [(m.webp, UPSTREAM), (m.gw1, "lan"), (m.gw2, "lan"), (m.apip, "public_listener")]
        before = [listener_bytes(p.stats(), name) for p, name in taps]
        served = m.app.requests
        status, body = m.fetch(path)
        self.assertEqual(status, 200)
        self.assertEqual(body, payload(path))
        self.assertEqual(m.app.requests, served + 1)

        def moved():
            return {p.name: listener_bytes(p.stats(), name) - b
                    for (p, name), b in zip(taps, before)}
        return moved

    def check_path(self, mode, through):
        m = self.mesh
        m.set_mode(mode)
        path = "/mode-%s" % mode
        moved = self.carriers(path)
        # A counter is bumped once its write returned, which may be just after the client read the
        # bytes: wait for the carriers, then the others must still be at zero.
        wait_until(lambda: all(moved()[name] >= PAYLOAD_SIZE for name in through), timeout=10,
                   msg=lambda: "%s: %r carry the request, bytes moved %r" % (
                       mode, through, moved()))
        figures = moved()
        print("mode %-6s bytes moved per proxy: %s" % (mode, figures))
        # The others must not have carried the response. They may move a few bytes of another
        # connection meanwhile: the previous mode's multiplexed connection through a gateway
        # ends with a TLS close_notify (24 bytes) once the new config drops it.
        for name, n in figures.items():
            if name not in through:
                self.assertLess(n, PAYLOAD_SIZE, "%s: %s carried the response: %r" % (
                    mode, name, figures))

    def test_local_goes_through_both_gateways(self):
        self.check_path("local", {"web-sidecar", "gw1", "gw2", "api-sidecar"})

    def test_remote_goes_through_dc2s_gateway_only(self):
        self.check_path("remote", {"web-sidecar", "gw2", "api-sidecar"})

    def test_none_goes_sidecar_to_sidecar(self):
        self.check_path("none", {"web-sidecar", "api-sidecar"})


class GatewayFailureTest(MeshTestCase):
    """A killed gateway: the other datacenter sees it critical within one check interval and a
    margin, connections through it fail while it is the only one, and with two the balancer moves
    on to the live one."""

    REMOTE_GATEWAYS = "dc2.internal."

    def kill_and_wait_critical(self, gw, service_id):
        m = self.mesh
        start = time.monotonic()
        gw.kill()
        wait_until(lambda: m.gateway_health(m.s1, "dc2").get(service_id) == "critical",
                   timeout=60, interval=0.2,
                   msg=lambda: "dc1 sees %s critical: %r" % (
                       service_id, m.gateway_health(m.s1, "dc2")))
        return time.monotonic() - start

    def twenty_requests(self, tag):
        """Sends 20 requests, each on a new connection; returns the indexes of those that failed."""
        failed = []
        for i in range(20):
            path = "/%s-%d" % (tag, i)
            if self.mesh.try_fetch(path) != (200, payload(path)):
                failed.append(i)
        return failed

    def connect_failures(self, proxy, prefix):
        return sum(c["ConnectFailures"] for name, c in proxy.stats()["Clusters"].items()
                   if name.startswith(prefix))

    def dials(self, proxy, prefix):
        """TLS connections `proxy` made to the clusters named `prefix`...: a sidecar's
        multiplexed connections (docs/mux.md), a gateway's connections."""
        return sum(c.get("MuxSessions") or c["Connections"]
                   for name, c in proxy.stats()["Clusters"].items() if name.startswith(prefix))

    def check_retry(self, mode, proxy, prefix, survivor, victim):
        """Kills `victim` of dc2's two gateways: `proxy`, which dials them, moves on to
        `survivor`."""
        m = self.mesh
        self.assertTrue(m.upstream_works("/%s-before" % mode))
        carried = listener_bytes(survivor.stats(), "lan")
        failures = self.connect_failures(proxy, prefix)
        dials = self.dials(proxy, prefix)
        version = proxy.stats()["Version"]
        victim.kill()
        failed = self.twenty_requests(mode)
        still_listed = proxy.stats()["Version"] == version
        retried = self.connect_failures(proxy, prefix) - failures
        dialed = self.dials(proxy, prefix) - dials
        print("mode %s, one of two gateways killed: failed requests %r of 20; %s made %d new "
              "connections and counted %d connect failures to the dead one" %
              (mode, failed, proxy.name, dialed, retried))
        self.assertIn(failed, ([], [0]), "only the first request after the kill may fail")
        wait_until(lambda: listener_bytes(survivor.stats(), "lan") - carried >=
                   (20 - len(failed)) * PAYLOAD_SIZE, timeout=10,
                   msg="the live gateway carried them")
        if still_listed and dialed >= 2:
            # The dead gateway was still an endpoint: round robin picked it, and it was passed over.
            self.assertGreaterEqual(retried, 1)
        elif not still_listed:
            print("(%s applied a new config meanwhile; the retry count is not checked)" %
                  proxy.name)
        else:
            # web's requests are streams of connections made before the kill (docs/mux.md): fewer
            # than two new ones need not have reached the dead gateway.
            print("(%d new connections: the retry count is not checked)" % dialed)

    def test_killed_gateways(self):
        m = self.mesh
        # -- dc2's only gateway dies.
        elapsed = self.kill_and_wait_critical(m.gw2, "mesh-gateway")
        print("dc2's only gateway SIGKILLed: critical in dc1's view after %.1f s "
              "(check interval 10 s, bound 15 s)" % elapsed)
        self.assertLess(elapsed, 15.0)
        self.assertIsNone(m.try_fetch("/no-gateway"), "a request with no live gateway in dc2")
        # gw1 refuses it; or, once web's sidecar has the catalog's news, the sidecar itself does
        # (a target behind no healthy gateway has no healthy endpoint, docs/proxycfg.md).
        refusal = re.compile(r"listener=(lan|upstream:api\?dc=dc2) peer=\S+ refused: "
                             r"(connect_failed|no_healthy_endpoint): cluster "
                             r"(api\.default\.)?dc2\.internal\.")
        line = wait_until(lambda: refusal.search(m.gw1.log() + m.webp.log()), timeout=10,
                          msg=lambda: "gw1 or web's sidecar logs the refusal\n" +
                          m.gw1.describe() + m.webp.describe())
        print("refused: %s" % line.group(0))

        # -- Two gateways in dc2: the killed one again, and a second one with its own ID and port.
        gw2b_port = free_ports(1)[0]
        m.gw2 = m.start_gateway(m.s2, "gw2-again", "mesh-gateway", m.gw2_port)
        gw2b = m.start_gateway(m.s2, "gw2b", "mesh-gateway", gw2b_port, proxy_id="mesh-gateway-2")
        for p in (m.gw2, gw2b):
            p.wait_admin()
        m.wait_gateways(m.s1, "dc2", 2)
        both = [(m.gw2_port, "passing"), (gw2b_port, "passing")]
        m.wait_applied(m.gw1, m.s1, "mesh-gateway", self.REMOTE_GATEWAYS, both)

        # Mode local: gw1 dials dc2's gateways.
        self.check_retry("local", m.gw1, self.REMOTE_GATEWAYS, survivor=m.gw2, victim=gw2b)

        # Mode remote: web's sidecar dials them. Bring gw2b back first.
        gw2b = m.start_gateway(m.s2, "gw2b-again", "mesh-gateway", gw2b_port,
                               proxy_id="mesh-gateway-2")
        gw2b.wait_admin()
        m.wait_gateways(m.s1, "dc2", 2)
        m.set_mode("remote", want=both)
        self.check_retry("remote", m.webp, "api.default.dc2.", survivor=gw2b, victim=m.gw2)


# ---- bad input ---------------------------------------------------------------------------------

def client_hello(sni):
    """The bytes of a real ClientHello (Python's TLS client) sending `sni`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def oversized_hello(size=100 * 1024):
    """A ClientHello-looking handshake message of `size` bytes in well-formed 16 KiB records."""
    msg = b"\x01" + size.to_bytes(3, "big") + b"\x03\x03" + b"\x5a" * (size - 2)
    out = b""
    for i in range(0, len(msg), 16384):
        chunk = msg[i:i + 16384]
        out += b"\x16\x03\x01" + len(chunk).to_bytes(2, "big") + chunk
    return out


def send_raw(port, data):
    """Sends `data` on a new connection, half-closes, reads until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:  # refused while we were still sending: reset or broken pipe
            pass


def tls_client(port, sni, cert=None):
    """A TLS client (verifying nothing about the server) with an optional (chain, key) pair; it
    sends a request and reads until the connection ends. Returns what it read."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(*cert)
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                tls.sendall(b"GET /should-not-arrive HTTP/1.0\r\n\r\n")
                while True:
                    data = tls.recv(65536)
                    if not data:
                        break
                    got += data
        except (OSError, ssl.SSLError):  # the server's alert or reset
            pass
    return got


def foreign_identity(directory):
    """A CA of trust domain other-domain.consul and a leaf for web in it: (chain file, key file)."""
    def run(*argv):
        cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, cwd=directory)
        if cp.returncode != 0:
            raise AssertionError("%s: %s" % (" ".join(argv), cp.stderr))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Other Domain CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-addext", "subjectAltName=URI:spiffe://other-domain.consul")
    run("openssl", "req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=web")
    with open(os.path.join(directory, "leaf.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectAltName=URI:spiffe://other-domain.consul/ns/default/dc/dc1/svc/web\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem")
    chain = os.path.join(directory, "chain.pem")
    with open(chain, "w") as out:
        for name in ("leaf.pem", "ca.pem"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    return chain, os.path.join(directory, "leaf.key")


class BadInputTest(MeshTestCase):
    """Bytes that are no acceptable handshake, sent to dc2's gateway and to api's sidecar: each
    connection is refused with a log line naming the reason, and the mesh keeps serving."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = tempfile.mkdtemp(prefix="gangway-foreign-")
        cls.cleanups.addCleanup(shutil.rmtree, d, True)
        cls.foreign = foreign_identity(d)

    def refuses(self, proxy, listener, reason, send, detail=""):
        """Runs send(); `proxy` must log one more `listener=<listener> ... refused: <reason>` line
        (containing `detail`) and count it in /stats; then a request through the mesh works."""
        line = re.compile(r"listener=%s peer=\S+ refused: %s: (.*)" % (re.escape(listener), reason))

        def lines():
            return [m.group(0) for m in line.finditer(proxy.log()) if detail in m.group(1)]
        before_lines = len(lines())
        before = proxy.stats()["Listeners"][listener]["Refused"].get(reason, 0)
        send()
        wait_until(lambda: len(lines()) == before_lines + 1, timeout=20,
                   msg=lambda: "%s logs refused: %s (%s)\n%s" % (proxy.name, reason, detail,
                                                                proxy.describe()))
        stats = proxy.stats()
        self.assertEqual(stats["Listeners"][listener]["Refused"].get(reason, 0), before + 1)
        self.assertEqual(stats["ConnectionErrors"], 0, "no exception inside %s" % proxy.name)
        print("%s: %s" % (proxy.name, lines()[-1]))
        path = "/after-%s" % reason
        self.assertEqual(self.mesh.fetch(path), (200, payload(path)))

    def test_gateway_listener(self):
        m = self.mesh
        gw, port = m.gw2, m.gw2_port
        api_sni = "api.default.dc2.internal.%s" % m.trust_domain
        served = m.app.requests
        self.refuses(gw, "lan", "bad_client_hello",
                     lambda: send_raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512)),
                     "not_handshake")
        self.refuses(gw, "lan", "bad_client_hello",
                     lambda: send_raw(port, client_hello(api_sni)[:60]),
                     "connection ended before a complete ClientHello")
        # The gateway's catch-all chain routes by the SNI's cluster: a name that is none is refused.
        self.refuses(gw, "lan", "unknown_cluster",
                     lambda: send_raw(port, client_hello("www.example.com")), "www.example.com")
        unknown = "nosuch.default.dc2.internal.%s" % m.trust_domain
        self.refuses(gw, "lan", "unknown_cluster", lambda: send_raw(port, client_hello(unknown)),
                     unknown)
        self.refuses(gw, "lan", "bad_client_hello", lambda: send_raw(port, oversized_hello()),
                     "too_large")
        # The gateway cannot see certificates: it forwards by SNI, and api's sidecar refuses them.
        self.refuses(m.apip, "public_listener", "no_client_certificate",
                     lambda: self.assertEqual(tls_client(port, api_sni), b""))
        self.refuses(m.apip, "public_listener", "untrusted_peer",
                     lambda: self.assertEqual(tls_client(port, api_sni, self.foreign), b""))
        # Only the good requests reached the app.
        self.assertEqual(m.app.requests, served + 7)

    def test_sidecar_public_listener(self):
        m = self.mesh
        p, port = m.apip, m.api_sidecar_port
        api_sni = "api.default.dc2.internal.%s" % m.trust_domain
        served = m.app.requests
        self.refuses(p, "public_listener", "tls_handshake",
                     lambda: send_raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512)))
        self.refuses(p, "public_listener", "tls_handshake",
                     lambda: send_raw(port, client_hello(api_sni)[:60]))
        self.refuses(p, "public_listener", "tls_handshake",
                     lambda: send_raw(port, oversized_hello()))
        self.refuses(p, "public_listener", "no_client_certificate",
                     lambda: self.assertEqual(tls_client(port, api_sni), b""))
        self.refuses(p, "public_listener", "no_client_certificate",
                     lambda: self.assertEqual(tls_client(port, "www.example.com"), b""))
        self.refuses(p, "public_listener", "untrusted_peer",
                     lambda: self.assertEqual(tls_client(port, api_sni, self.foreign), b""))
        # Only the good requests reached the app.
        self.assertEqual(m.app.requests, served + 6)


if __name__ == "__main__":
    unittest.main()
