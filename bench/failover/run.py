#!/usr/bin/env python3
"""How fast cross-datacenter failover moves traffic away from a broken datacenter, and back.

The three-datacenter mesh of tests/integration/mesh3.py (real agents, proxies and gateways on
loopback): web in dc1 reaches api through its local gateway and a resolver failing over to dc2,
then dc3. A load loop sends one request at a time through web's upstream, each on a new
connection, with `--gap` between them, and notes which datacenter answered (or that it failed).

Causes, each repeated `--reps` times from a settled state (three answers in a row from dc2):

  instances: dc2's api app stops (T0); fail-over = T0 to the first answer from dc3. The app
             starts again (T0'); fail-back = T0' to the first answer from dc2.
  gateway:   dc2's mesh gateway is SIGKILLed (T0); fail-over = T0 to the first answer from dc3.
             Once dc1 sees the gateway critical (a real outage outlasts a check interval), it is
             started again (T0'); fail-back = T0' to the first answer from dc2, the process's
             start-up included.
  blip:      the same, but the gateway is down for only `--blip` seconds (3): usually too
             short for its 10 s check to notice, so nothing in the catalog changes and
             fail-back is the proxies' retry of the ejected endpoint (docs/proxy.md,
             "Failover"), whose ejection has doubled while it kept failing.

Requests that failed during each transition are counted as well. Python standard library only;
every process is started here and stopped by PID at the end.

Usage: bench/failover/run.py [--gangway build/tools/gangway] [--reps 5] [--gap 0.01]
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Loop:
    """Requests one after the other; until() returns (seconds from t0, failed requests)."""

    def __init__(self, mesh, gap):
        self.mesh, self.gap, self.n = mesh, gap, 0

    def until(self, dc, t0, timeout=120):
        failed = 0
        while True:
            self.n += 1
            got = self.mesh.answer("/bench-%d" % self.n, timeout=10)
            if got == dc:
                return time.monotonic() - t0, failed
            if got is None:
                failed += 1
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("no answer from %s within %d s" % (dc, timeout))
            time.sleep(self.gap)


def summary(values):
    return "%.3f / %.3f / %.3f" % (min(values), statistics.median(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gangway", default=os.path.join(ROOT, "build", "tools", "gangway"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--gap", type=float, default=0.01, help="seconds between requests")
    ap.add_argument("--blip", type=float, default=3.0,
                    help="seconds dc2's gateway is down in the blip cause")
    ap.add_argument("--json", help="also write the raw figures here")
    args = ap.parse_args()
    os.environ["GANGWAY_BIN"] = os.path.abspath(args.gangway)

    from mesh import Cleanups
    from mesh3 import ThreeDcMesh

    cleanups = Cleanups()
    results = {"instances": [], "gateway": [], "blip": []}
    start_load = load()
    try:
        t = time.monotonic()
        mesh = ThreeDcMesh(cleanups).start()
        mesh.wait_answer("dc2")
        print("mesh of three datacenters up in %.1f s (load %s)" % (time.monotonic() - t, load()))
        loop = Loop(mesh, args.gap)
        for rep in range(1, args.reps + 1):
            mesh.wait_answer("dc2")
            t0 = time.monotonic()
            mesh.kill_app("dc2")
            over, over_failed = loop.until("dc3", t0)
            mesh.wait_answer("dc3")
            t0 = time.monotonic()
            mesh.heal_app("dc2")
            back, back_failed = loop.until("dc2", t0)
            results["instances"].append((over, over_failed, back, back_failed))
            print("instances rep %d: fail-over %.3f s (%d failed), fail-back %.3f s (%d failed)" %
                  (rep, over, over_failed, back, back_failed), flush=True)

            mesh.wait_answer("dc2")
            t0 = time.monotonic()
            mesh.kill_gateway("dc2")
            over, over_failed = loop.until("dc3", t0)
            mesh.wait_gateway("dc2", "critical")
            t0 = time.monotonic()
            mesh.start_gateway("dc2")
            back, back_failed = loop.until("dc2", t0)
            results["gateway"].append((over, over_failed, back, back_failed))
            print("gateway   rep %d: fail-over %.3f s (%d failed), fail-back %.3f s (%d failed)" %
                  (rep, over, over_failed, back, back_failed), flush=True)

            mesh.wait_answer("dc2")
            t0 = time.monotonic()
            mesh.kill_gateway("dc2")
            over, over_failed = loop.until("dc3", t0)
            while time.monotonic() - t0 < args.blip:
                if loop.until("dc3", time.monotonic())[1]:
                    raise RuntimeError("a request failed while dc2's gateway was down")
            noticed = "critical" in mesh.health("/v1/health/service/mesh-gateway?dc=dc2")
            t0 = time.monotonic()
            mesh.start_gateway("dc2")
            back, back_failed = loop.until("dc2", t0)
            if noticed:
                print("(blip rep %d: the catalog had noticed the gateway gone)" % rep)
            results["blip"].append((over, over_failed, back, back_failed))
            print("blip      rep %d: fail-over %.3f s (%d failed), fail-back %.3f s (%d failed)" %
                  (rep, over, over_failed, back, back_failed), flush=True)
    finally:
        cleanups.close()

    print("\nload average: %s at the start, %s at the end" % (start_load, load()))
    print("| cause | fail-over min / median / max (s) | failed requests | "
          "fail-back min / median / max (s) | failed requests |")
    print("|---|---|---|---|---|")
    for cause, rows in results.items():
        print("| %s | %s | %s | %s | %s |" % (
            cause, summary([r[0] for r in rows]), ", ".join(str(r[1]) for r in rows),
            summary([r[2] for r in rows]), ", ".join(str(r[3]) for r in rows)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
