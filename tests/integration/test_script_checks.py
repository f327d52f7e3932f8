"""Script and UDP checks against real agents. Script checks (Args): the status follows the script's exit code
(0 passing, 1 warning, other critical), the output is the script's, a script past its timeout is
killed with its children; the API refuses them without enable_script_checks and a config file
without either flag stops the agent, both with Consul's texts. A UDP check passes while its
target is bound (a reply or silence) and goes critical when nothing listens (ICMP)."""

import os
import stat
import subprocess
import tempfile
import time
import unittest

from harness import Agent, gangway_bin, wait_until, write_file


def check(agent, check_id):
    return agent.get("/v1/agent/checks").get(check_id)


class ScriptCheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="gangway-script-")
        self.addCleanup(self.dir.cleanup)
        d = self.dir.name
        self.code = os.path.join(d, "code")
        write_file(d, "code", "0")
        self.script = write_file(d, "check.sh", "#!/bin/sh\necho \"exit $(cat %s)\"\n"
                                 "exit $(cat %s)\n" % (self.code, self.code))
        os.chmod(self.script, os.stat(self.script).st_mode | stat.S_IEXEC)

    def set_code(self, n):
        with open(self.code + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(self.code + ".tmp", self.code)

    def test_status_follows_the_exit_code(self):
        cfg = write_file(self.dir.name, "scripts.hcl", "enable_script_checks = true\n")
        a = Agent()
        self.addCleanup(a.stop)
        a.start([], cfg)
        wait_until(lambda: "[SECURITY] using enable-script-checks without ACLs" in a.stderr_text(),
                   timeout=10, msg="the security warning")
        status, _, body = a.http("PUT", "/v1/agent/check/register",
                                 {"ID": "s", "Name": "script", "Args": [self.script],
                                  "Interval": "1s"})
        self.assertEqual(status, 200, body)
        for code, want in ((0, "passing"), (2, "critical"), (1, "warning"), (0, "passing")):
            self.set_code(code)
            c = wait_until(lambda: (lambda c: c if c and c["Status"] == want and
                                    c["Output"] == "exit %d\n" % code else None)(check(a, "s")),
                           timeout=20, msg="exit %d gives %s" % (code, want))
            self.assertEqual(c["Type"], "script")
        # In the catalog too, with its definition.
        row = [c for c in a.get("/v1/health/node/" + a.node) if c["CheckID"] == "s"][0]
        self.assertEqual(row["Status"], "passing")
        self.assertEqual(row["Definition"]["ScriptArgs"], [self.script])

        # A script past its timeout is killed with what it started.
        marker = os.path.join(self.dir.name, "child.pid")
        slow = write_file(self.dir.name, "slow.sh", "#!/bin/sh\necho started\nsleep 60 &\n"
                          "echo $! > %s\nwait\n" % marker)
        os.chmod(slow, 0o755)
        status, _, body = a.http("PUT", "/v1/agent/check/register",
                                 {"ID": "slow", "Name": "slow", "Args": [slow],
                                  "Interval": "30s", "Timeout": "1s"})
        self.assertEqual(status, 200, body)
        c = wait_until(lambda: (lambda c: c if c and c["Output"].startswith("Timed out")
                                else None)(check(a, "slow")), timeout=20, msg="the timeout")
        self.assertEqual(c["Status"], "critical")
        self.assertEqual(c["Output"], "Timed out (1s) running check\n\nstarted\n")
        child = int(open(marker).read())
        wait_until(lambda: not os.path.exists("/proc/%d" % child) or
                   open("/proc/%d/stat" % child).read().split()[2] == "Z",
                   timeout=10, msg="the script's child is killed")

        # A command that cannot start.
        status, _, _ = a.http("PUT", "/v1/agent/check/register",
                              {"ID": "nope", "Name": "nope", "Args": ["/nonexistent/check"],
                               "Interval": "10s"})
        self.assertEqual(status, 200)
        c = wait_until(lambda: (lambda c: c if c and c["Output"] else None)(check(a, "nope")),
                       timeout=20)
        self.assertEqual(c["Status"], "critical")
        self.assertIn("/nonexistent/check", c["Output"])

    def test_refused_without_the_flags(self):
        a = Agent()
        self.addCleanup(a.stop)
        a.start()
        status, _, body = a.http("PUT", "/v1/agent/check/register",
                                 {"ID": "s", "Name": "script", "Args": [self.script],
                                  "Interval": "1s"})
        self.assertEqual((status, body.decode()),
                         (500, "Scripts are disabled on this agent from remote calls; to enable, "
                               "configure 'enable_script_checks' to true"))
        status, _, body = a.http("PUT", "/v1/agent/service/register",
                                 {"Name": "web", "Check": {"Args": [self.script], "Interval": "1s"}})
        self.assertEqual(status, 500, body)
        self.assertNotIn("web", a.get("/v1/agent/services"))
        self.assertIsNone(check(a, "s"))

        # From a configuration file: enable_local_script_checks allows it, nothing refuses to start.
        svc = write_file(self.dir.name, "svc.hcl",
                         'service { name = "db"\n  check { args = ["%s"]\n    interval = "1s" } }\n'
                         % self.script)
        local = write_file(self.dir.name, "local.hcl", "enable_local_script_checks = true\n")
        b = Agent()
        self.addCleanup(b.stop)
        b.start([], svc, local)
        wait_until(lambda: any(c["Status"] == "passing" and c["ServiceName"] == "db"
                               for c in b.get("/v1/agent/checks").values()),
                   timeout=20, msg="the local script check passes")
        # ... but the API still refuses (enable_local_script_checks is for files only).
        status, _, _ = b.http("PUT", "/v1/agent/check/register",
                              {"ID": "s", "Name": "script", "Args": [self.script], "Interval": "1s"})
        self.assertEqual(status, 500)
        # Without either flag the agent does not start.
        cp = subprocess.run([gangway_bin(), "agent", "-dev", "-http-port", "0", "-dns-port", "-1",
                             "-serf-lan-port", "0", "-serf-wan-port", "0", "-server-port", "0",
                             "-config-file", svc], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("Scripts are disabled on this agent; to enable, configure "
                      "'enable_script_checks' or 'enable_local_script_checks' to true",
                      cp.stdout + cp.stderr)


class UdpCheckTest(unittest.TestCase):
    def test_bound_passes_closed_fails(self):
        import socket
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        a = Agent()
        self.addCleanup(a.stop)
        a.start()
        status, _, body = a.http("PUT", "/v1/agent/check/register",
                                 {"ID": "u", "Name": "udp", "UDP": "127.0.0.1:%d" % port,
                                  "Interval": "1s", "Timeout": "300ms"})
        self.assertEqual(status, 200, body)
        c = wait_until(lambda: (lambda c: c if c and c["Status"] == "passing" else None)(check(a, "u")),
                       timeout=20, msg="passing while bound")
        self.assertEqual(c["Output"], "UDP connect 127.0.0.1:%d: Success" % port)
        self.assertEqual(c["Type"], "udp")
        sock.close()
        c = wait_until(lambda: (lambda c: c if c and c["Status"] == "critical" else None)(check(a, "u")),
                       timeout=20, msg="critical once nothing listens")
        self.assertIn("read udp", c["Output"])
        self.assertIn("refused", c["Output"].lower())


if __name__ == "__main__":
    unittest.main()
