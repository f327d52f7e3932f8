"""Scenario S6: dc2 forgot primary_datacenter, so it bootstrapped a CA of its own. A call from
web (dc1) to api (dc2) through both mesh gateways fails, and what the operator reads names the
cause: web's sidecar logs "x509: certificate signed by unknown authority" with both trust
domains, api's sidecar says its client does not trust it, and `gangway status` in dc1 prints
the "Connect trust:" line with both trust domains and the fix."""

import json
import os
import re
import socket
import subprocess
import unittest

from harness import _LineCollector, _stop_pid, gangway_bin, wait_until, write_file
from test_connect_ca import DC
from test_raft import free_ports


class Process:
    """One proxy or gateway process; its stderr is kept line by line."""

    def __init__(self, tc, *args):
        self.argv = [gangway_bin()] + list(args)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        tc.addCleanup(self.stop)
        self.err = _LineCollector(self.proc.stderr, "stderr-%d" % self.proc.pid)
        _LineCollector(self.proc.stdout, "stdout-%d" % self.proc.pid)

    def stop(self):
        _stop_pid(self.proc)
        self.err.join()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def log(self):
        return self.err.text()


def call(port):
    """One HTTP request into web's upstream listener; what came back before it closed, or None
    when nothing listens there yet."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionRefusedError:
        return None
    with s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: api\r\n\r\n")
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        return got


class SeparateRootsTest(unittest.TestCase):
    def test_cross_datacenter_call_fails_naming_both_trust_domains(self):
        dc1 = DC(self, "dc1")
        td1 = wait_until(lambda: (dc1.roots() or {}).get("TrustDomain"), timeout=30,
                         msg="dc1's CA")
        dc2 = DC(self, "dc2", wan_join="127.0.0.1:%d" % dc1.wan)  # no primary_datacenter
        td2 = wait_until(lambda: (dc2.roots() or {}).get("TrustDomain"), timeout=30,
                         msg="dc2's CA")
        self.assertNotEqual(td1, td2)
        wait_until(lambda: "dc2" in (dc1.server.json("GET", "/v1/catalog/datacenters")[2] or []),
                   timeout=30, msg="dc1 sees dc2 over the WAN")

        web_port, web_sidecar, upstream, api_port, api_sidecar, gw1, gw2 = free_ports(7)
        d = dc1.root
        write_file(d, "web.json", json.dumps({"service": {
            "name": "web", "port": web_port, "connect": {"sidecar_service": {
                "port": web_sidecar, "proxy": {"upstreams": [{
                    "destination_name": "api", "datacenter": "dc2", "local_bind_port": upstream,
                    "mesh_gateway": {"mode": "local"}}]}}}}}))
        write_file(d, "api.json", json.dumps({"service": {
            "name": "api", "port": api_port,
            "connect": {"sidecar_service": {"port": api_sidecar}}}}))
        for dc, name in ((dc1, "web"), (dc2, "api")):
            cp = dc.server.cli("services", "register", os.path.join(d, name + ".json"))
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)

        def agent(dc):
            return ["-http-addr", dc.server.addr, "-admin-bind", "127.0.0.1:0"]
        gateways = [Process(self, "connect", "gateway", "mesh", "-register", "-service",
                            "mesh-gateway", "-address", "127.0.0.1:%d" % port,
                            "-wan-address", "127.0.0.1:%d" % port, *agent(dc))
                    for dc, port in ((dc1, gw1), (dc2, gw2))]
        web = Process(self, "connect", "proxy", "-sidecar-for", "web", *agent(dc1))
        api = Process(self, "connect", "proxy", "-sidecar-for", "api", *agent(dc2))

        # The call fails once the gateways' first health checks pass (10 s interval) and the
        # connection gets as far as api's sidecar: web's sidecar refuses api's certificate.
        untrusted = re.compile(
            r"listener=upstream:api\S* peer=\S+ refused: upstream_tls: cluster \S+: "
            r"x509: certificate signed by unknown authority: the peer's certificate "
            r"spiffe://%s/ns/default/dc/dc2/svc/api is from trust domain %s, this proxy trusts "
            r"trust domain %s" % tuple(map(re.escape, (td2, td2, td1))))

        def fails_with_the_cause():
            got = call(upstream)
            self.assertIn(got, (None, b""))  # no answer from api, ever
            return got is not None and untrusted.search(web.log())
        wait_until(fails_with_the_cause, timeout=90, interval=1,
                   msg=lambda: "web's sidecar names both trust domains\n--- web ---\n%s\n"
                               "--- api ---\n%s" % (web.log()[-3000:], api.log()[-3000:]))
        # dc2's gateway has no cluster for an SNI in dc1's trust domain: it forwards to api's
        # sidecar in its own and says so.
        self.assertIn("names another trust domain than this gateway's (%s)" % td2,
                      gateways[1].log())
        # api's sidecar only hears the alert (TLS 1.3: the client judges the server first).
        wait_until(lambda: "refused: tls_handshake: tlsv1 alert unknown ca" in api.log(),
                   timeout=10, msg=api.log)
        self.assertIn("the client does not trust this proxy's certificate (trust domain %s)" % td2,
                      api.log())

        cp = dc1.server.cli("status")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn(
            "Connect trust: dc2 does not trust dc1: x509: certificate signed by unknown authority "
            "(dc1 trust domain %s, dc2 trust domain %s); cross-datacenter connections between "
            "them fail. Fix: set primary_datacenter = \"dc1\" on dc2's servers" % (td1, td2),
            cp.stdout)


if __name__ == "__main__":
    unittest.main()
