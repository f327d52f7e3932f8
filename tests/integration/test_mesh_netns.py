"""Scenario S4, isolation: two datacenters in network namespaces of their own, joined by a WAN
that only the servers and the mesh gateways are on. A request from web's upstream port in dc1
reaches api in dc2 through both gateways (mode local) while tcpdump records the WAN; the capture
holds TLS between the gateways and neither the request's nor the response's plaintext.

Topology (namespaces are named gwt<pid>-dc1, -dc2, -wan so parallel runs do not clash):

    ns dc1                          ns wan                         ns dc2
    lo 127.0.0.1: agent HTTP,       br0 (tcpdump -i br0)           lo 127.0.0.1: agent HTTP,
      web's sidecar, gw1 LAN          |          |                   api app and sidecar, gw2 LAN
    wan0 10.99.0.1: server  ---- veth w1      veth w2 ----  wan0 10.99.0.2: server gossip/RPC,
      gossip/RPC, gw1 WAN                                            gw2 WAN

Apps, sidecars and the agents' HTTP listen on loopback only, so from the WAN a datacenter is
reachable only at its server's gossip/RPC ports and its gateway's WAN port; the test checks that
too. `curl` in dc1 plays the web app. Needs root, `ip` (iproute2), `tcpdump` and `curl`; skips
saying which is missing. Everything created (processes by PID, veths, the bridge, namespaces) is
removed in cleanups, also when the test fails. The test gives up by itself after
TEST_BUDGET_S seconds, before ctest's timeout could kill it without its cleanups.
"""

import atexit
import hashlib
import json
import os
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest

from harness import _stop_pid, gangway_bin, wait_until, write_file

WAN_IP = {"dc1": "10.99.0.1", "dc2": "10.99.0.2"}
GATEWAY_PORT = 8443
SIDECAR_PORT = 21000
API_APP_PORT = 8080
UPSTREAM_PORT = 9191
TEST_BUDGET_S = 150

# The api app: answers every request with the response marker and a digest of what it got (so
# the test knows the request's path and body arrived intact).
API_APP = r'''
import hashlib, http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        got = self.path.encode() + b"\n" + self.rfile.read(n)
        body = (sys.argv[2] + ":" + hashlib.sha256(got).hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

# Tries TCP connections from inside a namespace; prints {"host:port": true|false}.
PROBE = r'''
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        out[target] = True
    except OSError:
        out[target] = False
print(json.dumps(out))
'''


_live_topologies = set()


@atexit.register
def _teardown_leftovers():
    for t in list(_live_topologies):
        t.teardown()


def missing_prerequisite():
    if os.geteuid() != 0:
        return "needs root to create network namespaces (uid %d)" % os.geteuid()
    for tool in ("ip", "tcpdump", "curl"):
        if not shutil.which(tool):
            return "`%s` is not installed (scripts/install-deps installs it)" % tool
    return None


def run(argv, timeout=30):
    cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                        timeout=timeout)
    if cp.returncode != 0:
        raise AssertionError("`%s` -> exit %d: %s" % (" ".join(argv), cp.returncode,
                                                      cp.stderr.strip()))
    return cp.stdout


def tls_records(stream):
    """Splits bytes into TLS records: [(content_type, length)], or raises ValueError."""
    records, i = [], 0
    while i < len(stream):
        if len(stream) - i < 5:
            raise ValueError("%d trailing bytes are not a TLS record header" % (len(stream) - i))
        ctype, major, minor, length = struct.unpack_from("!BBBH", stream, i)
        if ctype not in (20, 21, 22, 23) or major != 3 or minor > 4:
            raise ValueError("bytes at offset %d are not a TLS record: %s" % (
                i, stream[i:i + 5].hex()))
        records.append((ctype, length))
        i += 5 + length
    if i != len(stream):
        raise ValueError("the last TLS record is cut short")
    return records


def tcp_streams(pcap):
    """The TCP payloads of an Ethernet pcap: {(src, sport, dst, dport): bytes}, each direction in
    sequence order (retransmitted segments counted once), and the number of packets."""
    magic = pcap[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise AssertionError("not a pcap file: magic %s" % magic.hex())
    linktype = struct.unpack_from(endian + "I", pcap, 20)[0]
    if linktype != 1:
        raise AssertionError("pcap link type %d, expected Ethernet (1)" % linktype)
    segments, packets, off = {}, 0, 24
    while off + 16 <= len(pcap):
        incl = struct.unpack_from(endian + "I", pcap, off + 8)[0]
        if off + 16 + incl > len(pcap):
            break  # a record tcpdump is still writing
        frame = pcap[off + 16:off + 16 + incl]
        off += 16 + incl
        packets += 1
        if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue  # not IPv4 TCP
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        tcp = ip[ihl:total]
        sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            segments.setdefault((src, sport, dst, dport), {})[seq] = payload
    streams = {}
    for flow, by_seq in segments.items():
        # Sequence numbers start at random points; a capture this short does not wrap them.
        streams[flow] = b"".join(by_seq[s] for s in sorted(by_seq))
    return streams, packets


def read(path):
    with open(path, "rb") as f:
        return f.read()


def gateway_exchange_problem(pcap, least):
    """None when the capture holds TCP payload both ways between the gateways' WAN addresses,
    each direction all TLS records, opening with a handshake and carrying more application data
    than least["request"] (towards gw2) and least["response"] (back); else what is missing."""
    try:
        streams, _ = tcp_streams(pcap)
    except (AssertionError, struct.error) as e:
        return "unreadable capture: %s" % e
    gw1, gw2 = WAN_IP["dc1"], WAN_IP["dc2"]
    directions = (
        ("request", [f for f in streams if f[0] == gw1 and f[2:] == (gw2, GATEWAY_PORT)]),
        ("response", [f for f in streams if f[:2] == (gw2, GATEWAY_PORT) and f[2] == gw1]))
    for what, flows in directions:
        if not flows:
            return "no %s payload between the gateways; flows: %r" % (what, sorted(streams))
        app_data = 0
        for flow in flows:
            try:
                records = tls_records(streams[flow])
            except ValueError as e:
                return "%s:%d -> %s:%d is not TLS: %s" % (flow + (e,))
            if records[0][0] != 22:
                return "%s:%d -> %s:%d does not open with a TLS handshake" % flow
            app_data += sum(n for t, n in records if t == 23)
        if app_data <= least[what]:
            return "%d bytes of TLS application data in the %s direction, expected more than %d" % (
                app_data, what, least[what])
    return None


class Topology:
    """The namespaces, links and processes of one test. teardown() undoes everything created,
    last first; it runs as the test's cleanup and, should the run be interrupted before that
    (Ctrl-C skips unittest's cleanups), at exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.ns = {k: "gwt%d-%s" % (os.getpid(), k) for k in ("wan", "dc1", "dc2")}
        self.logs = {}
        self._undo = []
        _live_topologies.add(self)

    def teardown(self):
        _live_topologies.discard(self)
        errors = []
        while self._undo:
            fn, args = self._undo.pop()
            try:
                fn(*args)
            except Exception as e:  # keep undoing the rest; report the first failure
                errors.append(e)
        if errors:
            raise errors[0]

    def netns(self, key):
        name = self.ns[key]
        run(["ip", "netns", "add", name])
        self._undo.append((run, (["ip", "netns", "delete", name],)))
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def build(self):
        for key in ("wan", "dc1", "dc2"):
            self.netns(key)
        wan = self.ns["wan"]
        run(["ip", "-n", wan, "link", "add", "br0", "type", "bridge"])
        self._undo.append((run, (["ip", "-n", wan, "link", "delete", "br0"],)))
        run(["ip", "-n", wan, "link", "set", "br0", "up"])
        for i, dc in enumerate(("dc1", "dc2"), 1):
            port = "w%d" % i
            # One veth pair per DC: `port` on the bridge, `wan0` in the DC's namespace.
            run(["ip", "-n", wan, "link", "add", port, "type", "veth", "peer", "name", "wan0",
                 "netns", self.ns[dc]])
            self._undo.append((run, (["ip", "-n", wan, "link", "delete", port],)))
            run(["ip", "-n", wan, "link", "set", port, "master", "br0"])
            run(["ip", "-n", wan, "link", "set", port, "up"])
            run(["ip", "-n", self.ns[dc], "addr", "add", WAN_IP[dc] + "/24", "dev", "wan0"])
            run(["ip", "-n", self.ns[dc], "link", "set", "wan0", "up"])

    def start(self, key, name, argv):
        """Starts argv in namespace `key`, output to <workdir>/<name>.log; stopped by PID."""
        path = os.path.join(self.workdir, name + ".log")
        log = open(path, "wb")
        env = {k: v for k, v in os.environ.items()
               if k not in ("CONSUL_HTTP_ADDR", "GANGWAY_HTTP_ADDR")}
        # `ip netns exec` enters the namespace and execs argv: the PID is argv's own.
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[key]] + argv,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.workdir, env=env)
        log.close()
        self.logs[name] = path
        self._undo.append((_stop_pid, (proc,)))
        return proc

    def log(self, name):
        with open(self.logs[name], "rb") as f:
            return f.read().decode("utf-8", "replace")

    def diagnosis(self):
        parts = []
        for name in self.logs:
            lines = self.log(name).splitlines()
            parts.append("--- %s (last 15 lines) ---\n%s" % (name, "\n".join(lines[-15:])))
        return "\n".join(parts)

    def exec(self, key, argv, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.ns[key]] + argv,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)

    def http(self, key, path, data=None, port=8500, timeout=10):
        """curl in namespace `key` to 127.0.0.1:port; returns (status, body bytes)."""
        argv = ["curl", "-sS", "-m", str(timeout), "-o", "-", "-w", "\n%{http_code}"]
        if data is not None:
            argv += ["-X", "POST", "--data-binary", data.decode()]
        cp = self.exec(key, argv + ["http://127.0.0.1:%d%s" % (port, path)], timeout=timeout + 5)
        body, _, code = cp.stdout.rpartition(b"\n")
        return int(code or b"0"), body

    def get_json(self, key, path):
        status, body = self.http(key, path)
        return json.loads(body) if status == 200 else None


class MeshAcrossNamespacesTest(unittest.TestCase):
    def setUp(self):
        why = missing_prerequisite()
        if why:
            self.skipTest(why)
        self.workdir = tempfile.mkdtemp(prefix="gangway-netns-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.t = Topology(self.workdir)
        self.addCleanup(self.t.teardown)
        self.t.build()
        self.deadline = time.monotonic() + TEST_BUDGET_S

    def wait(self, fn, timeout, what):
        """wait_until within both `timeout` and what is left of the test's budget."""
        timeout = max(0.0, min(timeout, self.deadline - time.monotonic()))
        return wait_until(fn, timeout=timeout, interval=0.3, msg=lambda: "%s\n%s" % (
            what() if callable(what) else what, self.t.diagnosis()))

    def start_server(self, dc):
        data = os.path.join(self.workdir, dc + "-data")
        os.makedirs(data)
        hcl = ['connect { enabled = true }']
        if dc != "dc1":
            hcl.append('primary_datacenter = "dc1"')
        cfg = write_file(self.workdir, dc + ".hcl", "\n".join(hcl) + "\n")
        argv = [gangway_bin(), "agent", "-server", "-bootstrap", "-node", dc + "-server",
                "-datacenter", dc, "-data-dir", data, "-bind", WAN_IP[dc], "-client", "127.0.0.1",
                "-dns-port", "-1", "-config-file", cfg]
        if dc != "dc1":
            argv += ["-retry-join-wan", WAN_IP["dc1"] + ":8302", "-retry-interval-wan", "1s"]
        self.t.start(dc, dc + "-server", argv)

    def register(self, dc, service):
        path = write_file(self.workdir, "%s-%s.json" % (dc, service["name"]),
                          json.dumps({"service": service}))
        cp = self.t.exec(dc, [gangway_bin(), "services", "register", path])
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def start_gateway(self, dc):
        self.t.start(dc, dc + "-gateway", [
            gangway_bin(), "connect", "gateway", "mesh", "-register", "-service", "mesh-gateway",
            "-address", "127.0.0.1:%d" % GATEWAY_PORT,
            "-wan-address", "%s:%d" % (WAN_IP[dc], GATEWAY_PORT),
            "-admin-bind", "127.0.0.1:19000", "-workers", "1"])

    def start_sidecar(self, dc, service):
        self.t.start(dc, "%s-%s-sidecar" % (dc, service), [
            gangway_bin(), "connect", "proxy", "-sidecar-for", service,
            "-admin-bind", "127.0.0.1:19001", "-workers", "1"])

    def passing(self, dc, path):
        return len(self.t.get_json(dc, path) or [])

    def test_request_crosses_the_wan_only_as_tls(self):
        started = time.monotonic()
        for dc in ("dc1", "dc2"):
            self.start_server(dc)
        for dc in ("dc1", "dc2"):
            self.wait(lambda: self.t.get_json(dc, "/v1/status/leader"), 30, dc + " has a leader")
        self.wait(lambda: sorted(self.t.get_json("dc1", "/v1/catalog/datacenters") or []) ==
                  ["dc1", "dc2"], 30, "dc1 and dc2 see each other over the WAN")
        self.wait(lambda: [r for r in (self.t.get_json("dc2", "/v1/connect/ca/roots") or
                                       {}).get("Roots") or [] if r.get("IntermediateCerts")],
                  45, "dc2's intermediate signed by dc1")

        self.register("dc1", {
            "name": "web", "port": 8081, "address": "127.0.0.1",
            "connect": {"sidecar_service": {
                "port": SIDECAR_PORT, "address": "127.0.0.1",
                "proxy": {"upstreams": [{
                    "destination_name": "api", "datacenter": "dc2",
                    "local_bind_port": UPSTREAM_PORT, "mesh_gateway": {"mode": "local"}}]}}}})
        self.register("dc2", {
            "name": "api", "port": API_APP_PORT, "address": "127.0.0.1",
            "connect": {"sidecar_service": {"port": SIDECAR_PORT, "address": "127.0.0.1"}}})

        request_marker, response_marker = secrets.token_hex(32), secrets.token_hex(32)
        app = write_file(self.workdir, "api_app.py", API_APP)
        self.t.start("dc2", "dc2-api-app", ["python3", app, str(API_APP_PORT), response_marker])
        for dc in ("dc1", "dc2"):
            self.start_gateway(dc)
        self.start_sidecar("dc1", "web")
        self.start_sidecar("dc2", "api")

        # The gateways' TCP checks run every 10 s: wait for the first ones to pass, as seen from
        # dc1 (its own gateway, and dc2's through the WAN), and for api's sidecar in dc2.
        self.wait(lambda: self.passing("dc1", "/v1/health/service/mesh-gateway?passing"), 40,
                  "dc1's gateway passes its check")
        self.wait(lambda: self.passing("dc1", "/v1/health/service/mesh-gateway?dc=dc2&passing"),
                  40, "dc2's gateway passes its check")
        self.wait(lambda: self.passing("dc2", "/v1/health/connect/api?passing"), 30,
                  "api's sidecar passes its checks")

        # Isolation: over the WAN each DC answers at its gateway's WAN port (and its server's
        # ports), not at its app, sidecar, upstream or HTTP API ports.
        for src, dst, ports in (("dc1", "dc2", (SIDECAR_PORT, API_APP_PORT, 8500)),
                                ("dc2", "dc1", (SIDECAR_PORT, UPSTREAM_PORT, 8500))):
            targets = ["%s:%d" % (WAN_IP[dst], p) for p in (GATEWAY_PORT,) + ports]
            cp = self.t.exec(src, ["python3", "-c", PROBE] + targets)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            self.assertEqual(json.loads(cp.stdout),
                             {t: t == targets[0] for t in targets}, "reachable from " + src)

        pcap = os.path.join(self.workdir, "wan.pcap")
        tcpdump = self.t.start("wan", "tcpdump", [
            # -Z root: tcpdump would otherwise drop to its own user, which may not write here.
            "tcpdump", "-i", "br0", "-n", "-U", "--immediate-mode", "-s", "0", "-Z", "root",
            "-w", pcap])
        self.wait(lambda: "listening on br0" in self.t.log("tcpdump"), 10, "tcpdump is capturing")

        path = "/orders/" + request_marker
        body = ("order=" + request_marker).encode()
        expected = "%s:%s\n" % (response_marker,
                                hashlib.sha256(path.encode() + b"\n" + body).hexdigest())
        answers = []

        def request():
            answers.append(self.t.http("dc1", path, data=body, port=UPSTREAM_PORT))
            return answers[-1] == (200, expected.encode())
        self.wait(request, 30, lambda: "the request through both gateways (answers: %r)" %
                  answers[-3:])

        # With --immediate-mode each packet is written as it arrives: wait until the file holds
        # the gateways' TLS exchange, then stop tcpdump (SIGINT; it reports what it captured).
        least = {"request": len(path) + len(body), "response": len(expected)}
        self.wait(lambda: gateway_exchange_problem(read(pcap), least) is None, 10,
                  lambda: "the WAN capture shows the gateways' exchange: %s" %
                  gateway_exchange_problem(read(pcap), least))
        os.kill(tcpdump.pid, signal.SIGINT)
        self.assertEqual(tcpdump.wait(timeout=10), 0, self.t.log("tcpdump"))
        raw = read(pcap)
        _, packets = tcp_streams(raw)
        print("\nWAN capture: %d bytes, %d packets, after %d request(s), %.1fs into the test; "
              "tcpdump: %s" % (len(raw), packets, len(answers), time.monotonic() - started,
                               " / ".join(self.t.log("tcpdump").strip().splitlines()[-3:])))

        # Not vacuous: the gateways talked over the WAN, both ways, in TLS records that carry at
        # least the request and the response.
        self.assertIsNone(gateway_exchange_problem(raw, least))
        # The byte search below sees payloads: the ClientHello's SNI, which gw2 routes by, is
        # in the clear.
        self.assertIn(b"api.default.dc2.internal.", raw)

        # The point: neither marker crossed the WAN in the clear.
        for name, marker in (("request", request_marker), ("response", response_marker)):
            at = raw.find(marker.encode())
            self.assertEqual(at, -1, "the %s marker is in the WAN capture at byte %d: %r" % (
                name, at, raw[max(0, at - 200):at + 100]))


if __name__ == "__main__":
    unittest.main()
