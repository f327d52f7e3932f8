"""The DNS interface against real agents, queried with dig: every lookup form, prepared
queries (one failing over to another datacenter), another datacenter, a client agent that
forwards to its server, an instance leaving the answers when its check fails, truncation over UDP
and the whole answer over TCP, recursors (an answer and a timeout), and garbage packets that
leave the agent serving."""

import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import Agent, TCPListener, wait_until, write_file
from test_connect_ca import DC
from test_raft import free_ports

HAVE_DIG = shutil.which("dig") is not None


def dig(port, name, qtype="A", *opts):
    """Runs dig against 127.0.0.1:port; returns a dict with status, flags, and the sections as
    lists of (name, ttl, type, rdata)."""
    cp = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=5", "+tries=1", name, qtype]
                        + list(opts), capture_output=True, text=True, timeout=30)
    out = {"status": None, "flags": set(), "answer": [], "authority": [], "additional": [],
           "text": cp.stdout}
    m = re.search(r"status: (\w+)", cp.stdout)
    if m:
        out["status"] = m.group(1)
    m = re.search(r";; flags: ([a-z ]+);", cp.stdout)
    if m:
        out["flags"] = set(m.group(1).split())
    section = None
    for line in cp.stdout.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
        elif line.startswith(";; AUTHORITY SECTION"):
            section = "authority"
        elif line.startswith(";; ADDITIONAL SECTION"):
            section = "additional"
        elif not line.strip() or line.startswith(";"):
            if not line.strip():
                section = None
        elif section:
            parts = line.split(None, 4)
            if len(parts) == 5:
                out[section].append((parts[0], int(parts[1]), parts[3], parts[4]))
    return out


def rdata(result, section="answer", qtype=None):
    return sorted(r[3] for r in result[section] if qtype is None or r[2] == qtype)


class Recursor:
    """A UDP resolver on 127.0.0.1 answering every A question with 192.0.2.53 (or silent)."""

    def __init__(self, silent=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.silent = silent
        self.asked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            self.asked += 1
            if self.silent or len(data) < 12:
                continue
            # The question section ends after the name's zero label plus type and class.
            end = data.index(b"\x00", 12) + 5
            header = data[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 53])
            self.sock.sendto(header + data[12:end] + answer, peer)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def register(agent, body):
    status, _, text = agent.http("PUT", "/v1/agent/service/register", body)
    assert status == 200, text


@unittest.skipUnless(HAVE_DIG, "dig is not installed (Debian package bind9-dnsutils)")
class DevAgentDnsTest(unittest.TestCase):
    def setUp(self):
        self.recursor = Recursor()
        self.addCleanup(self.recursor.close)
        (self.dns,) = free_ports(1)
        d = self.workdir = __import__("tempfile").mkdtemp(prefix="gangway-dns-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = write_file(d, "dns.hcl", """
node_meta { rack = "r1" }
alt_domain = "mesh.example"
recursors = ["127.0.0.1:%d"]
dns_config {
  enable_truncate = true
  service_ttl { "db*" = "30s" }
  node_ttl = "10s"
}
""" % self.recursor.port)
        self.agent = Agent(node="dnsnode")
        self.addCleanup(self.agent.stop)
        self.agent.start(["-dns-port", str(self.dns)], cfg)
        wait_until(lambda: "Started DNS server" in self.agent.stderr_text(), timeout=10)

    def test_lookup_forms(self):
        a, p = self.agent, self.dns
        register(a, {"Name": "web", "ID": "web1", "Port": 8080, "Tags": ["v1", "primary"]})
        register(a, {"Name": "web", "ID": "web2", "Port": 8081, "Address": "127.0.0.2", "Tags": ["v2"]})
        register(a, {"Name": "db-main", "Port": 5432, "Address": "db.example.com"})
        wait_until(lambda: len(a.get("/v1/catalog/service/web")) == 2, timeout=10)

        r = dig(p, "web.service.consul")
        self.assertEqual(r["status"], "NOERROR", r["text"])
        self.assertIn("aa", r["flags"])
        self.assertIn("ra", r["flags"])  # recursors are configured
        self.assertEqual(rdata(r), ["127.0.0.1", "127.0.0.2"])
        self.assertEqual(r["answer"][0][0], "web.service.consul.")
        self.assertEqual(rdata(dig(p, "v2.web.service.consul")), ["127.0.0.2"])
        self.assertEqual(rdata(dig(p, "V1.Web.Service.Consul")), ["127.0.0.1"])
        self.assertEqual(rdata(dig(p, "web.service.dc1.consul")), ["127.0.0.1", "127.0.0.2"])
        self.assertEqual(rdata(dig(p, "web.service.mesh.example")), ["127.0.0.1", "127.0.0.2"])

        srv = dig(p, "web.service.consul", "SRV")
        self.assertEqual(rdata(srv), ["1 1 8080 dnsnode.node.dc1.consul.",
                                      "1 1 8081 7f000002.addr.dc1.consul."])
        self.assertEqual(rdata(srv, "additional", "A"), ["127.0.0.1", "127.0.0.2"])
        self.assertEqual(rdata(srv, "additional", "TXT"), ['"rack=r1"'])
        r = dig(p, "_web._v1.service.consul", "SRV")
        self.assertEqual(rdata(r), ["1 1 8080 dnsnode.node.dc1.consul."])
        r = dig(p, "_web._tcp.consul", "SRV")
        self.assertEqual(len(r["answer"]), 2, r["text"])
        # The alt domain answers in its own names.
        r = dig(p, "web.service.mesh.example", "SRV")
        self.assertIn("1 1 8080 dnsnode.node.dc1.mesh.example.", rdata(r))

        r = dig(p, "db-main.service.consul")
        self.assertEqual(r["answer"][0][2:], ("CNAME", "db.example.com."))
        self.assertEqual(r["answer"][0][1], 30)  # service_ttl "db*"

        r = dig(p, "dnsnode.node.consul")
        self.assertEqual(rdata(r), ["127.0.0.1"])
        self.assertEqual(r["answer"][0][1], 10)  # node_ttl
        r = dig(p, "dnsnode.node.consul", "TXT")
        self.assertEqual(rdata(r), ['"rack=r1"'])
        r = dig(p, "dnsnode.node.consul", "AAAA")
        self.assertEqual((r["status"], r["answer"]), ("NOERROR", []))
        self.assertEqual(r["authority"][0][2], "SOA")

        self.assertEqual(rdata(dig(p, "7f000002.addr.consul")), ["127.0.0.2"])
        r = dig(p, "-x", "127.0.0.1")
        self.assertIn("dnsnode.node.dc1.consul.", rdata(r), r["text"])

        r = dig(p, "consul", "SOA")
        self.assertEqual(r["answer"][0][2], "SOA")
        self.assertTrue(r["answer"][0][3].startswith("ns.consul. hostmaster.consul. "), r["text"])
        r = dig(p, "consul", "NS")
        self.assertEqual(rdata(r), ["dnsnode.node.dc1.consul."])
        self.assertEqual(rdata(r, "additional", "A"), ["127.0.0.1"])

        for name in ("nothing.service.consul", "nobody.node.consul", "web.service.dc9.consul",
                     "x.y.web.service.consul", "consul", "q.query.consul"):
            r = dig(p, name)
            self.assertEqual(r["status"], "NXDOMAIN", name + "\n" + r["text"])
            self.assertEqual(r["authority"][0][2], "SOA", name)
        self.assertEqual(dig(p, "web.service.consul", "MX")["status"], "NOERROR")

        # Connect: the sidecar of web answers web.connect.
        register(a, {"Name": "web-sidecar-proxy", "Kind": "connect-proxy", "Port": 21000,
                     "Address": "127.0.0.3",
                     "Proxy": {"DestinationServiceName": "web", "DestinationServiceID": "web1"}})
        wait_until(lambda: rdata(dig(p, "web.connect.consul")) == ["127.0.0.3"], timeout=10,
                   msg="web.connect answers the sidecar")
        r = dig(p, "web.connect.consul", "SRV")
        self.assertEqual(rdata(r), ["1 1 21000 7f000003.addr.dc1.consul."])

    def test_prepared_queries(self):
        a, p = self.agent, self.dns
        register(a, {"Name": "db-pq", "ID": "db1", "Port": 5432, "Address": "127.0.0.11",
                     "Tags": ["primary"]})
        register(a, {"Name": "db-pq", "ID": "db2", "Port": 5433, "Address": "127.0.0.12"})
        wait_until(lambda: len(a.get("/v1/catalog/service/db-pq")) == 2, timeout=10)
        status, _, qid = a.json("POST", "/v1/query", {
            "Name": "db-primary", "Service": {"Service": "db-pq", "Tags": ["primary"]},
            "DNS": {"TTL": "7s"}})
        self.assertEqual(status, 200, qid)
        status, _, text = a.json("POST", "/v1/query", {
            "Name": "db-all", "Service": {"Service": "db-pq"}})
        self.assertEqual(status, 200, text)
        # A template: any name under "geo-" asks for the service its second part names.
        status, _, text = a.json("POST", "/v1/query", {
            "Name": "geo-", "Template": {"Type": "name_prefix_match", "Regexp": "^geo-(.*)$"},
            "Service": {"Service": "${match(1)}"}})
        self.assertEqual(status, 200, text)

        r = dig(p, "db-primary.query.consul")
        self.assertEqual(r["status"], "NOERROR", r["text"])
        self.assertIn("aa", r["flags"])
        self.assertEqual(rdata(r), ["127.0.0.11"])
        self.assertEqual(r["answer"][0][:3], ("db-primary.query.consul.", 7, "A"))
        # By ID, in the datacenter's form, and RFC 2782's.
        self.assertEqual(rdata(dig(p, qid["ID"] + ".query.consul")), ["127.0.0.11"])
        self.assertEqual(rdata(dig(p, "db-primary.query.dc1.consul")), ["127.0.0.11"])
        r = dig(p, "_db-primary._tcp.query.consul", "SRV")
        self.assertEqual(rdata(r), ["1 1 5432 7f00000b.addr.dc1.consul."])
        self.assertEqual(rdata(r, "additional", "A"), ["127.0.0.11"])
        # Without DNS.TTL: the service's TTL from service_ttl ("db*" = 30s).
        r = dig(p, "db-all.query.consul")
        self.assertEqual(rdata(r), ["127.0.0.11", "127.0.0.12"])
        self.assertEqual({rec[1] for rec in r["answer"]}, {30})
        self.assertEqual(rdata(dig(p, "geo-db-pq.query.consul")), ["127.0.0.11", "127.0.0.12"])
        # Unknown queries, and a template that matches no service, are name errors.
        for name in ("nope.query.consul", "geo-nothing.query.consul"):
            r = dig(p, name)
            self.assertEqual(r["status"], "NXDOMAIN", name + "\n" + r["text"])
            self.assertEqual(r["authority"][0][2], "SOA", name)

    def test_failing_instance_leaves_the_answers(self):
        a, p = self.agent, self.dns
        listener = TCPListener()
        self.addCleanup(listener.close)
        register(a, {"Name": "api", "ID": "api1", "Port": listener.port,
                     "Check": {"TCP": listener.addr, "Interval": "1s"}})
        register(a, {"Name": "api", "ID": "api2", "Port": 9999, "Address": "127.0.0.9"})
        wait_until(lambda: len(dig(p, "api.service.consul")["answer"]) == 2, timeout=15,
                   msg="both instances answered once the check passes")
        listener.close()
        t0 = time.monotonic()
        wait_until(lambda: rdata(dig(p, "api.service.consul")) == ["127.0.0.9"], timeout=15,
                   msg="the failing instance leaves the answers")
        print("failing instance left the answers after %.2f s (check interval 1 s)"
              % (time.monotonic() - t0))

    def test_truncation_and_tcp(self):
        a, p = self.agent, self.dns
        for i in range(1, 21):
            register(a, {"Name": "many", "ID": "many%d" % i, "Port": 9000 + i,
                         "Address": "127.0.1.%d" % i})
        wait_until(lambda: len(a.get("/v1/catalog/service/many")) == 20, timeout=10)
        r = dig(p, "many.service.consul", "A", "+noedns", "+ignore")
        self.assertEqual(len(r["answer"]), 3, r["text"])
        self.assertIn("tc", r["flags"])
        r = dig(p, "many.service.consul", "A", "+tcp")
        self.assertEqual(len(r["answer"]), 20, r["text"])
        self.assertNotIn("tc", r["flags"])
        r = dig(p, "many.service.consul", "SRV", "+tcp")
        self.assertEqual(len(r["answer"]), 20)
        self.assertEqual(len(rdata(r, "additional", "A")), 20)
        # EDNS with room for everything: no count limit.
        r = dig(p, "many.service.consul", "A", "+bufsize=4096")
        self.assertEqual(len(r["answer"]), 20, r["text"])
        # dig retries over TCP on its own when TC is set.
        r = dig(p, "many.service.consul", "SRV", "+noedns")
        self.assertEqual(len(r["answer"]), 20, r["text"])

    def test_recursors_and_garbage(self):
        p = self.dns
        r = dig(p, "www.example.org")
        self.assertEqual(r["status"], "NOERROR", r["text"])
        self.assertEqual(rdata(r), ["192.0.2.53"])
        self.assertGreaterEqual(self.recursor.asked, 1)

        # Garbage: never a crash; FORMERR where an id can be read, and serving goes on.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        self.addCleanup(s.close)
        packets = [
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # loop
            b"\x12\x35\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web",  # truncated
            b"\x12\x36\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff",  # counts beyond the bytes
            b"\x12\x37" + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x3f" + b"a" * 63 + b"\x00",
        ]
        for pkt in packets:
            s.sendto(pkt, ("127.0.0.1", p))
            data, _ = s.recvfrom(4096)
            self.assertEqual(data[:2], pkt[:2])
            self.assertEqual(data[3] & 0x0F, 1, "FORMERR for %r" % pkt)
        s.sendto(os.urandom(9000), ("127.0.0.1", p))
        for _ in range(300):
            s.sendto(os.urandom(int.from_bytes(os.urandom(1), "big") + 1), ("127.0.0.1", p))
        # Over TCP too: a length prefix promising more than comes, then a close.
        t = socket.create_connection(("127.0.0.1", p), timeout=5)
        t.sendall(struct.pack(">H", 500) + b"\x00" * 20)
        t.close()
        self.assertEqual(dig(p, "dnsnode.node.consul")["status"], "NOERROR")
        self.assertTrue(self.agent.running())


@unittest.skipUnless(HAVE_DIG, "dig is not installed (Debian package bind9-dnsutils)")
class RecursorTimeoutTest(unittest.TestCase):
    def test_silent_recursor_is_servfail(self):
        silent = Recursor(silent=True)
        self.addCleanup(silent.close)
        (dns,) = free_ports(1)
        d = __import__("tempfile").mkdtemp(prefix="gangway-dns-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = write_file(d, "dns.hcl", 'recursors = ["127.0.0.1:%d"]\n'
                                       'dns_config { recursor_timeout = "300ms" }\n' % silent.port)
        a = Agent()
        self.addCleanup(a.stop)
        a.start(["-dns-port", str(dns)], cfg)
        wait_until(lambda: "Started DNS server" in a.stderr_text(), timeout=10)
        r = dig(dns, "www.example.org")
        self.assertEqual(r["status"], "SERVFAIL", r["text"])
        self.assertGreaterEqual(silent.asked, 1)
        # The -domain and -recursor flags: "consul." is now outside the domain, so it goes to the
        # (silent) recursor.
        (dns2,) = free_ports(1)
        b = Agent()
        self.addCleanup(b.stop)
        b.start(["-dns-port", str(dns2), "-domain", "mesh.internal", "-recursor",
                 "127.0.0.1:%d" % silent.port])
        wait_until(lambda: "Started DNS server" in b.stderr_text(), timeout=10)
        self.assertEqual(dig(dns2, "consul")["status"], "SERVFAIL")  # outside mesh.internal
        self.assertEqual(dig(dns2, "mesh.internal", "SOA")["status"], "NOERROR")


@unittest.skipUnless(HAVE_DIG, "dig is not installed (Debian package bind9-dnsutils)")
class CrossDatacenterDnsTest(unittest.TestCase):
    def test_other_datacenter_and_client_agent(self):
        dns1, dns2, dns_client = free_ports(3)
        dc1 = DC(self, "dc1", with_client=False, dns_port=dns1)
        dc2 = DC(self, "dc2", primary="dc1", wan_join="127.0.0.1:%d" % dc1.wan, dns_port=dns2)
        wait_until(lambda: "dc2" in (dc1.server.json("GET", "/v1/catalog/datacenters")[2] or []),
                   timeout=60, msg="dc1 sees dc2 over the WAN")
        register(dc2.server, {"Name": "api", "Port": 9090, "Address": "127.0.0.22"})
        wait_until(lambda: rdata(dig(dns1, "api.service.dc2.consul")) == ["127.0.0.22"],
                   timeout=30, msg="dc1 answers api.service.dc2.consul")
        self.assertEqual(dig(dns1, "api.service.consul")["status"], "NXDOMAIN")
        r = dig(dns1, "api.service.dc2.consul", "SRV")
        self.assertEqual(rdata(r), ["1 1 9090 7f000016.addr.dc2.consul."])
        self.assertEqual(dig(dns1, "api.service.dc7.consul")["status"], "NXDOMAIN")

        # A client agent of dc1 answers through its server, for both datacenters.
        client = Agent(node="dns-client-%d" % os.getpid(), dev=False)
        self.addCleanup(client.stop)
        client.start(["-datacenter", "dc1", "-retry-join", "127.0.0.1:%d" % dc1.lan,
                      "-retry-interval", "1s", "-dns-port", str(dns_client)])
        register(client, {"Name": "web", "Port": 8080})
        wait_until(lambda: rdata(dig(dns_client, "web.service.consul")) == ["127.0.0.1"],
                   timeout=30, msg="the client agent answers its own service through the server")
        self.assertEqual(rdata(dig(dns_client, "api.service.dc2.consul")), ["127.0.0.22"])
        r = dig(dns_client, client.node + ".node.consul")
        self.assertEqual(rdata(r), ["127.0.0.1"])

        # A prepared query in dc1 fails over to dc2, where the service lives; the answer names
        # the datacenter it came from, on the server's and on the client agent's interface.
        status, _, text = dc1.server.json("POST", "/v1/query", {
            "Name": "api-anywhere",
            "Service": {"Service": "api", "Failover": {"Datacenters": ["dc2"]}}})
        self.assertEqual(status, 200, text)
        for port in (dns1, dns_client):
            r = dig(port, "api-anywhere.query.consul", "SRV")
            self.assertEqual(rdata(r), ["1 1 9090 7f000016.addr.dc2.consul."], r["text"])
            self.assertEqual(rdata(dig(port, "api-anywhere.query.consul")), ["127.0.0.22"])


if __name__ == "__main__":
    unittest.main()
