"""Server operations through the CLI: the Raft peer list and snapshots (save, inspect,
restore, and refusal of damaged files)."""

import os
import shutil
import tempfile
import unittest

from harness import Agent, unique_node


class ServerOpsTest(unittest.TestCase):
    def start(self, *args):
        a = Agent(node=unique_node("s"))
        self.addCleanup(a.stop)
        a.start(list(args))
        return a

    def test_list_peers_shows_the_leader(self):
        a = self.start()
        cp = a.cli("operator", "raft", "list-peers")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        lines = cp.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["Node", "ID", "Address", "State", "Voter", "RaftProtocol"])
        row = lines[1].split()
        self.assertEqual(row[0], a.node)
        self.assertEqual(row[3:], ["leader", "true", "3"])
        status, _, conf = a.json("GET", "/v1/operator/raft/configuration")
        self.assertEqual(status, 200)
        self.assertEqual(conf["Servers"][0]["Node"], a.node)
        self.assertTrue(conf["Servers"][0]["Leader"])
        cp = a.cli("operator", "raft", "remove-peer")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("an address or id is required", cp.stderr)

    def test_snapshot_save_inspect_restore(self):
        a = self.start()
        d = tempfile.mkdtemp(prefix="gangway-snap-")
        self.addCleanup(shutil.rmtree, d, True)
        self.assertEqual(a.cli("kv", "put", "app/color", "blue").returncode, 0)
        snap = os.path.join(d, "backup.snap")
        cp = a.cli("snapshot", "save", snap)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^Saved and verified snapshot to index \d+\n$")
        cp = a.cli("snapshot", "inspect", snap)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"ID\s+\d+-\d+-\d+")
        # Changes after the snapshot disappear when it is restored.
        a.cli("kv", "put", "app/color", "green")
        a.cli("kv", "put", "app/new", "x")
        cp = a.cli("snapshot", "restore", snap)
        self.assertEqual((cp.returncode, cp.stdout), (0, "Restored snapshot\n"), cp.stderr)
        self.assertEqual(a.cli("kv", "get", "app/color").stdout, "blue\n")
        self.assertEqual(a.cli("kv", "get", "app/new").returncode, 1)
        # A damaged file is refused before anything changes, by the CLI and by the API.
        data = open(snap, "rb").read()
        bad = os.path.join(d, "bad.snap")
        with open(bad, "wb") as f:
            f.write(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
        cp = a.cli("snapshot", "restore", bad)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("checksum mismatch", cp.stderr)
        status, _, body = a.http("PUT", "/v1/snapshot", data[:50])
        self.assertEqual(status, 400)
        self.assertIn(b"snapshot archive: truncated", body)
        self.assertEqual(a.cli("kv", "get", "app/color").stdout, "blue\n")


if __name__ == "__main__":
    unittest.main()
