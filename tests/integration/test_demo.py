"""`make demo` (scripts/demo) as a user runs it: two federated datacenters, a mesh gateway in
each, web in dc1 calling api in dc2 through both. With DEMO_EXIT_AFTER=1 the demo exits after
printing its explore section; it must exit 0, have printed api's answer and both gateways' byte
counters moving, and leave no process or listener behind. Taken ports make it refuse to start.

The demo uses fixed ports (listed in the script's PORTS); the suite skips, naming them, when one
is already in use on this host (another demo running), since the demo would rightly refuse."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import gangway_bin, wait_until

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEMO = os.path.join(ROOT, "scripts", "demo")
ADMIN_RE = re.compile(r"Proxies' admin endpoints \(127\.0\.0\.1\): gw1 (\d+), gw2 (\d+), "
                      r"web-sidecar (\d+), api-sidecar (\d+)")
BYTES_RE = re.compile(r"(gw[12]) \(dc[12], admin 127\.0\.0\.1:\d+\): (\d+) → (\d+) bytes")


def demo_ports():
    """The (host, port) pairs of the script's PORTS array."""
    with open(DEMO, encoding="utf-8") as f:
        m = re.search(r"^PORTS=\((.*?)\)", f.read(), re.S | re.M)
    pairs = re.findall(r"(127\.0\.0\.\d+):(\d+)", m.group(1))
    assert pairs, "no PORTS in scripts/demo"
    return [(h, int(p)) for h, p in pairs]


def listening(host, port):
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def session_pids(sid):
    """PIDs of live processes whose session is `sid` (the demo runs in a session of its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def read(log):
    log.flush()
    with open(log.name, encoding="utf-8") as f:
        return f.read()


def assert_nothing_left(test, out, sid):
    """No process of the demo's session, no listener on its ports or its proxies' admin ports."""
    admin = ADMIN_RE.search(out)
    test.assertIsNotNone(admin, out)
    ports = demo_ports() + [("127.0.0.1", int(p)) for p in admin.groups()]
    test.assertEqual(session_pids(sid), [], "processes left by the demo")
    wait_until(lambda: not [hp for hp in ports if listening(*hp)], timeout=10,
               msg=lambda: "listeners left: %s" % [hp for hp in ports if listening(*hp)])


class DemoTest(unittest.TestCase):
    def setUp(self):
        # The demo listens on fixed, documented ports (users type them); a demo someone is running
        # on this host owns them, and this test must not stop it or fail because of it.
        busy = ["%s:%d" % hp for hp in demo_ports() if listening(*hp)]
        if busy:
            self.skipTest("the demo's ports are in use on this host: " + ", ".join(busy))
        self.tmp = tempfile.TemporaryDirectory(prefix="demo-it-")
        self.addCleanup(self.tmp.cleanup)
        self.work = os.path.join(self.tmp.name, "tmp")  # the demo's TMPDIR
        os.mkdir(self.work)

    def start_demo(self, exit_after):
        """Starts the demo in a session of its own (as a terminal's foreground job)."""
        env = dict(os.environ, TMPDIR=self.work)
        env.pop("DEMO_EXIT_AFTER", None)
        if exit_after:
            env["DEMO_EXIT_AFTER"] = "1"
        log = open(os.path.join(self.tmp.name, "demo.out"), "w+", encoding="utf-8")
        self.addCleanup(log.close)
        proc = subprocess.Popen([DEMO, gangway_bin()], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.addCleanup(self.stop_session, proc.pid)
        return proc, log

    def run_demo(self, timeout):
        """Runs the demo with DEMO_EXIT_AFTER=1; returns (rc, output, sid)."""
        proc, log = self.start_demo(exit_after=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # the demo's trap stops what it started
            proc.wait(timeout=30)
            self.fail("the demo did not finish within %ds:\n%s" % (timeout, read(log)))
        return proc.returncode, read(log), proc.pid

    def stop_session(self, sid):
        """Safety net: stops, by PID, anything the demo left in its session."""
        for pid in session_pids(sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def test_request_crosses_both_gateways_and_nothing_is_left(self):
        start = time.monotonic()
        rc, out, sid = self.run_demo(timeout=150)
        elapsed = time.monotonic() - start
        self.assertEqual(rc, 0, out)
        self.assertIn("hello from api in dc2: GET /hello-from-web", out)
        # The steps are printed with their proofs.
        for line in ("Diagnosis: WAN federation", "Diagnosis: gateways registered",
                     "Diagnosis: dc1 sees dc2's gateway",
                     "Diagnosis: traffic crossed both gateways",
                     "Joined WAN:", "note: retry_join", 'note: Gangway runs its own proxy for '
                     '"connect envoy"', 'kind "mesh-gateway-upstream" is a Gangway extension',
                     "mesh-gateway listening=passing", "Press Ctrl-C to stop.",
                     "Diagnosis: DNS answers across datacenters",
                     "Diagnosis: Services in dc1 can't reach services in dc2",
                     "  (refused: api has no instance in dc1)",
                     "a service-router in the mesh-gateway tutorial's shape",
                     "Config entry written: service-resolver/api",
                     "Config entry written: proxy-defaults/global",
                     "Diagnosis: intentions", "Created: web => api (deny)", "Denied",
                     "refused: ", "Intention deleted."):
            self.assertIn(line, out)
        # dc1's DNS interface answered for dc2's api: an SRV record and its address.
        self.assertRegex(out, r"api\.service\.dc2\.consul\.\s+0\s+IN\s+SRV\s+1 1 9090 ")
        moved = {name: int(after) - int(before) for name, before, after in BYTES_RE.findall(out)}
        self.assertEqual(set(moved), {"gw1", "gw2"}, out)
        self.assertGreater(moved["gw1"], 0, out)
        self.assertGreater(moved["gw2"], 0, out)
        self.assertRegex(out, r"demo: stopped 8 processes")

        assert_nothing_left(self, out, sid)
        print("demo finished in %.1fs" % elapsed)

    def test_ctrl_c_stops_everything(self):
        proc, log = self.start_demo(exit_after=False)
        wait_until(lambda: "Press Ctrl-C to stop." in read(log) or proc.poll() is not None,
                   timeout=150, interval=0.5, msg="the demo's explore section")
        self.assertIsNone(proc.poll(), read(log))
        self.assertIn("hello from api in dc2", read(log))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        rc = proc.wait(timeout=60)
        out = read(log)
        self.assertEqual(rc, 0, out)
        self.assertIn("demo: stopped 8 processes", out)
        assert_nothing_left(self, out, proc.pid)

    def test_refuses_to_start_when_a_port_is_taken(self):
        host, port = ("127.0.0.1", 9191)  # web's upstream port
        self.assertIn((host, port), demo_ports())
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, port))
        holder.listen()
        rc, out, sid = self.run_demo(timeout=60)
        self.assertEqual(rc, 1, out)
        self.assertIn("demo: something already listens on 127.0.0.1:9191; stop it first.", out)
        self.assertNotIn("Starting", out)
        self.assertEqual(session_pids(sid), [])
        self.assertEqual(os.listdir(self.work), [], "the demo created files before refusing")


if __name__ == "__main__":
    unittest.main()
