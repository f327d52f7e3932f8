"""The layering check refuses what src/layering.txt forbids and accepts what it allows.

Builds small trees in a temporary folder with the real src/layering.txt and runs the check on
them. Usage: layering_selftest.py <check-layering> <layering.txt>
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECK, LAYERS = sys.argv[1], sys.argv[2]


def run(files):
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "src"))
        shutil.copy(LAYERS, os.path.join(root, "src", "layering.txt"))
        for rel, text in files.items():
            path = os.path.join(root, "src", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        p = subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True, text=True)
        return p.returncode, p.stdout


class LayeringCheck(unittest.TestCase):
    def test_proxy_including_control_plane_fails(self):
        code, out = run({"proxy/listener.cc": '#include "proxy/listener.h"\n#include "catalog/store.h"\n'})
        self.assertEqual(code, 1, out)
        self.assertIn('src/proxy/listener.cc:2: module proxy may not include "catalog/store.h"', out)

    def test_proxy_may_include_the_http_client_only(self):
        code, out = run({"proxy/a.cc": '#include "http/client.h"\n#include "proxy/config/config.h"\n'})
        self.assertEqual(code, 0, out)
        code, out = run({"proxy/a.cc": '#include "http/server.h"\n'})
        self.assertEqual(code, 1, out)

    def test_upward_include_fails(self):
        code, out = run({"catalog/store.cc": '#include "server/server.h"\n'})
        self.assertEqual(code, 1, out)
        self.assertIn("module catalog may not include", out)

    def test_tests_may_cross_layers(self):
        code, out = run({"catalog/store_test.cc": '#include "server/server.h"\n',
                         "catalog/testing/fake.h": '#include "agent/agent.h"\n'})
        self.assertEqual(code, 0, out)

    def test_production_code_may_not_include_testing(self):
        code, out = run({"client/checks.cc": '#include "core/testing/sim_loop.h"\n'})
        self.assertEqual(code, 1, out)
        self.assertIn("test-only", out)

    def test_unlisted_module_fails(self):
        code, out = run({"newthing/a.cc": "int x;\n"})
        self.assertEqual(code, 1, out)
        self.assertIn("not a module listed", out)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
