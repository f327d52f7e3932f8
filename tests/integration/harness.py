"""Test harness for integration tests that run real `gangway` processes.

Everything listens on 127.0.0.1 and on ports the kernel picks (port 0), so suites can run in
parallel. Every process a test starts is stopped by PID in a cleanup, with an atexit safety net;
nothing here ever signals a process by name.

Environment:
  GANGWAY_BIN   path of the gangway binary (ctest sets it to the built target).
"""

import atexit
import http.client
import http.server
import itertools
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

STARTED_RE = re.compile(r"Started HTTP server: address=(\S+):(\d+) network=tcp")

# Ports for every listener a dev agent may open: 0 lets the kernel pick, -1 disables. DNS is off.
PORT_ARGS = ["-http-port", "0", "-dns-port", "-1", "-serf-lan-port", "0", "-serf-wan-port", "0",
             "-server-port", "0"]

_node_counter = itertools.count(1)
_live_agents = set()
_live_lock = threading.Lock()


def gangway_bin():
    path = os.environ.get("GANGWAY_BIN", "")
    if not path:
        raise RuntimeError("GANGWAY_BIN is not set: point it at the built gangway binary")
    if not os.access(path, os.X_OK):
        raise RuntimeError("GANGWAY_BIN=%r is not an executable file" % path)
    return path


def unique_node(prefix="it"):
    return "%s-%d-%d" % (prefix, os.getpid(), next(_node_counter))


def wait_until(fn, timeout=10.0, interval=0.05, msg=None):
    """Calls fn until it returns a truthy value, and returns that value.

    Raises AssertionError (with the last value or exception) when `timeout` seconds pass first.
    `msg` (a string, or a callable returning one) describes the condition in that error.
    """
    deadline = time.monotonic() + timeout
    last = None
    last_exc = None
    while True:
        try:
            last = fn()
            last_exc = None
            if last:
                return last
        except AssertionError as e:  # fn may assert; keep retrying until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            detail = ("last exception: %r" % last_exc) if last_exc else ("last value: %r" % (last,))
            what = msg() if callable(msg) else msg
            raise AssertionError("%s: not true within %.1fs (%s)" % (what or "condition", timeout, detail))
        time.sleep(interval)


def write_file(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _stop_pid(proc, grace=5.0):
    """SIGINT to exactly this process, then SIGKILL (by PID) if it has not exited in `grace`."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=5)


@atexit.register
def _reap_leftovers():
    with _live_lock:
        left = list(_live_agents)
    for a in left:
        a.stop()


class _LineCollector:
    """Reads a pipe on a thread so the child never blocks on a full pipe; keeps every line."""

    def __init__(self, stream, name):
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self._t = threading.Thread(target=self._run, args=(stream,), name=name, daemon=True)
        self._t.start()

    def _run(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def join(self, timeout=2.0):
        self._t.join(timeout)


class AgentError(AssertionError):
    pass


class Agent:
    """One `gangway agent -dev` process on free ports.

    a = Agent(); a.start(["-datacenter", "dc1"], "/path/to/config.hcl"); testcase.addCleanup(a.stop)
    """

    def __init__(self, node=None, workdir=None, dev=True):
        self.node = node or unique_node()
        self.dev = dev  # False: a client agent bound to 127.0.0.1 with a data dir
        self.proc = None
        self.host = None
        self.port = None
        self.addr = None
        self.argv = None
        self._stderr = None
        self._stdout = None
        self._tmp = None
        self.workdir = workdir

    # ---- lifecycle -------------------------------------------------------------------------

    def command(self, extra_args=(), *config_files):
        mode = ["-dev"] if self.dev else ["-data-dir", os.path.join(self.workdir, "data"),
                                           "-bind", "127.0.0.1", "-client", "127.0.0.1"]
        argv = [gangway_bin(), "agent"] + mode + ["-node", self.node] + PORT_ARGS + list(extra_args)
        for f in config_files:
            argv += ["-config-file", f]
        return argv

    def start(self, extra_args=(), *config_files, timeout=15.0):
        """Starts the agent; returns once it logged "Started HTTP server" (then .addr is set)."""
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gangway-it-")
            self.workdir = self._tmp.name
        self.argv = self.command(extra_args, *config_files)
        env = dict(os.environ)
        for k in ("CONSUL_HTTP_ADDR", "GANGWAY_HTTP_ADDR"):
            env.pop(k, None)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self.workdir, env=env)
        with _live_lock:
            _live_agents.add(self)
        self._stderr = _LineCollector(self.proc.stderr, "agent-stderr-%d" % self.proc.pid)
        self._stdout = _LineCollector(self.proc.stdout, "agent-stdout-%d" % self.proc.pid)

        deadline = time.monotonic() + timeout
        seen = 0
        with self._stderr.cond:
            while True:
                for line in self._stderr.lines[seen:]:
                    m = STARTED_RE.search(line)
                    if m:
                        self.host, self.port = m.group(1), int(m.group(2))
                        self.addr = "%s:%d" % (self.host, self.port)
                        return self
                seen = len(self._stderr.lines)
                left = deadline - time.monotonic()
                if self._stderr.closed or left <= 0:
                    break
                self._stderr.cond.wait(min(left, 0.2))
        # Failed to start: collect everything it said, make sure it is gone, and fail loudly.
        if self.proc.poll() is None:
            why = "no \"Started HTTP server\" line within %.0fs" % timeout
        else:
            why = "exited with status %s before listening" % self.proc.returncode
        self.stop()
        raise AgentError("gangway agent failed to start: %s\ncommand: %s\n%s" %
                         (why, " ".join(self.argv), self.output()))

    def stop(self):
        """Stops the agent (SIGINT, then SIGKILL after 5 s); returns its exit status (or None)."""
        rc = None
        if self.proc is not None:
            rc = _stop_pid(self.proc)
            for c in (self._stderr, self._stdout):
                if c:
                    c.join()
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()
        with _live_lock:
            _live_agents.discard(self)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return rc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        return self._stderr.text() if self._stderr else ""

    def stdout_text(self):
        return self._stdout.text() if self._stdout else ""

    def output(self):
        return "--- agent stderr ---\n%s\n--- agent stdout ---\n%s\n--- end ---" % (
            self.stderr_text(), self.stdout_text())

    # ---- HTTP ------------------------------------------------------------------------------

    def http(self, method, path, body=None, headers=None, timeout=30.0):
        """One request on a fresh connection. Returns (status, headers, body_bytes).

        `body` may be bytes, str, or any other value (sent as JSON).
        """
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, timeout=30.0):
        """Like http(), but decodes a JSON body: returns (status, headers, value_or_None)."""
        status, hdrs, data = self.http(method, path, body, headers, timeout)
        value = None
        if data.strip():
            try:
                value = json.loads(data)
            except ValueError:
                raise AssertionError("%s %s -> %d: body is not JSON: %r" % (method, path, status, data[:500]))
        return status, hdrs, value

    def get(self, path, timeout=30.0):
        """GET that must answer 200; returns the decoded JSON."""
        status, _, value = self.json("GET", path, timeout=timeout)
        if status != 200:
            raise AssertionError("GET %s -> %d: %r" % (path, status, value))
        return value

    def put(self, path, body=None):
        """PUT that must answer 200; returns the raw body."""
        status, _, data = self.http("PUT", path, body)
        if status != 200:
            raise AssertionError("PUT %s -> %d: %s" % (path, status, data[:500].decode("utf-8", "replace")))
        return data

    # ---- CLI -------------------------------------------------------------------------------

    def cli(self, *args, env=None, timeout=30.0, cwd=None):
        """Runs `gangway <args>` against this agent (GANGWAY_HTTP_ADDR). Returns CompletedProcess.

        `env` entries override the environment; a value of None removes the variable.
        """
        e = dict(os.environ)
        e.pop("CONSUL_HTTP_ADDR", None)
        if self.addr:
            e["GANGWAY_HTTP_ADDR"] = self.addr
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return run_gangway(list(args), env=e, timeout=timeout, cwd=cwd or self.workdir)


def run_gangway(args, env=None, timeout=30.0, cwd=None):
    """Runs the binary to completion (killed by PID after `timeout`). Returns CompletedProcess."""
    argv = [gangway_bin()] + list(args)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_pid(proc, grace=1.0)
        out, err = proc.communicate()
        raise AssertionError("`%s` did not exit within %.0fs\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(argv), timeout, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")))
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def describe(cp):
    """A CompletedProcess, for assertion messages."""
    return "`%s` -> exit %s\nstdout:\n%s\nstderr:\n%s" % (" ".join(cp.args), cp.returncode, cp.stdout, cp.stderr)


# ---- helper servers for checks ---------------------------------------------------------------

class SwitchableHTTPServer:
    """An HTTP server on 127.0.0.1:0 answering every request with a code that tests can switch.

    Counts the responses it sent per code (`served(code)`).
    """

    def __init__(self, code=200):
        self.code = code
        self._counts = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _answer(self):
                with owner._lock:
                    code = owner.code
                    owner._counts[code] = owner._counts.get(code, 0) + 1
                body = ("helper says %d\n" % code).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = _answer

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d/health" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="helper-http-%d" % self.port, daemon=True)
        self._thread.start()

    def set_code(self, code):
        with self._lock:
            self.code = code

    def served(self, code):
        with self._lock:
            return self._counts.get(code, 0)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)


class TCPListener:
    """A TCP listener on 127.0.0.1:0 that accepts and closes connections until close()d."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.accepted = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="helper-tcp-%d" % self.port, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._closed.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            c.close()

    def close(self):
        if not self._closed.is_set():
            self._closed.set()
            self._thread.join(2)
            self._sock.close()


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
