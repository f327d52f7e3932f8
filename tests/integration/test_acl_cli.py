"""`gangway acl` against a real dev agent with ACLs on and default_policy deny: bootstrap (once;
the second is refused with the reset index), a policy from an HCL rules file, a token with that
policy, a role, the list commands, token delete and set-agent-token, each with Consul's output
layout and messages. The management token travels as CONSUL_HTTP_TOKEN, -token and -token-file.

Run with GANGWAY_BIN=<path to gangway>:  python3 -m unittest -v test_acl_cli
"""

import json
import os
import re
import tempfile
import textwrap
import unittest

from harness import Agent, describe, unique_node, write_file

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
GLOBAL_MANAGEMENT = "00000000-0000-0000-0000-000000000001"
# Go's %v of a time: "2021-10-29 17:46:41.667765951 +0000 UTC".
GO_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+"

WEB_RULES = textwrap.dedent("""\
    # Read the web service's keys; register web.
    key_prefix "web/" {
      policy = "read"
    }
    service "web" {
      policy = "write"
    }
    """)


def field(output, label):
    """The value of a `Label:   value` line of pretty output."""
    m = re.search(r"^%s:\s+(.*)$" % re.escape(label), output, re.M)
    return m.group(1) if m else None


class AclCliTest(unittest.TestCase):
    """One agent for the class, bootstrapped once in setUpClass; tests use its management token."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gangway-acl-cli-")
        cls.addClassCleanup(cls.tmp.cleanup)
        config = write_file(cls.tmp.name, "acl.hcl", textwrap.dedent("""\
            primary_datacenter = "dc1"
            acl {
              enabled        = true
              default_policy = "deny"
            }
            """))
        cls.a = Agent(unique_node("aclcli"))
        cls.addClassCleanup(cls.a.stop)
        cls.a.start(["-datacenter", "dc1"], config)
        cls.bootstrap = cls.a.cli("acl", "bootstrap")
        if cls.bootstrap.returncode != 0:
            raise AssertionError("bootstrap failed: %s\n%s" % (describe(cls.bootstrap),
                                                                 cls.a.output()))
        cls.management = field(cls.bootstrap.stdout, "SecretID")

    def acl(self, *args, token=None, expect=0):
        """Runs `gangway acl <args>` with `token` (the management token by default)."""
        env = {"CONSUL_HTTP_TOKEN": self.management if token is None else token,
               "GANGWAY_HTTP_TOKEN": None, "CONSUL_HTTP_TOKEN_FILE": None}
        r = self.a.cli("acl", *args, env=env)
        if expect is not None:
            self.assertEqual(r.returncode, expect, describe(r) + "\n" + self.a.output())
        return r

    # ---- bootstrap ---------------------------------------------------------------------------

    def test_bootstrap_prints_the_management_token(self):
        out = self.bootstrap.stdout
        lines = out.split("\n")
        self.assertRegex(lines[0], r"^AccessorID:       %s$" % UUID)
        self.assertRegex(lines[1], r"^SecretID:         %s$" % UUID)
        self.assertEqual(lines[2], "Description:      Bootstrap Token (Global Management)")
        self.assertEqual(lines[3], "Local:            false")
        self.assertRegex(lines[4], r"^Create Time:      %s$" % GO_TIME)
        self.assertEqual(lines[5:], ["Policies:", "   %s - global-management" % GLOBAL_MANAGEMENT,
                                     "", ""])
        self.assertEqual(self.bootstrap.stderr, "")

    def test_second_bootstrap_is_refused(self):
        r = self.a.cli("acl", "bootstrap")
        self.assertEqual(r.returncode, 1, describe(r))
        self.assertRegex(r.stderr, r"^Failed ACL bootstrapping: Unexpected response code: 403 "
                                   r"\(Permission denied: ACL bootstrap no longer allowed "
                                   r"\(reset index: \d+\)\)\n$")
        self.assertEqual(r.stdout, "")

    def test_the_management_token_reads_itself(self):
        r = self.acl("token", "read", "-self")
        self.assertEqual(field(r.stdout, "SecretID"), self.management)
        self.assertEqual(field(r.stdout, "AccessorID"), field(self.bootstrap.stdout, "AccessorID"))
        # The same through -token and -token-file.
        r = self.a.cli("acl", "token", "read", "-self", "-token", self.management,
                       env={"CONSUL_HTTP_TOKEN": None, "GANGWAY_HTTP_TOKEN": None})
        self.assertEqual(r.returncode, 0, describe(r))
        path = write_file(self.tmp.name, "mgmt.token", self.management + "\n")
        r = self.a.cli("acl", "token", "read", "-self", "-token-file", path,
                       env={"CONSUL_HTTP_TOKEN": None, "GANGWAY_HTTP_TOKEN": None})
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertEqual(field(r.stdout, "SecretID"), self.management)

    def test_without_a_token_acl_reads_are_refused(self):
        r = self.acl("token", "list", token="", expect=1)
        self.assertTrue(r.stderr.startswith("Failed to retrieve the token list: Unexpected "
                                            "response code: 403 ("), describe(r))

    # ---- policy, token, role -----------------------------------------------------------------

    def test_policy_token_role_lifecycle(self):
        name = unique_node("web-pol")
        rules = write_file(self.tmp.name, name + ".hcl", WEB_RULES)
        r = self.acl("policy", "create", "-name", name, "-description", "web's policy",
                     "-rules", "@" + rules)
        self.assertRegex(field(r.stdout, "ID"), "^%s$" % UUID)
        self.assertEqual(field(r.stdout, "Name"), name)
        self.assertEqual(field(r.stdout, "Description"), "web's policy")
        self.assertIn("Rules:\n" + WEB_RULES, r.stdout)
        policy_id = field(r.stdout, "ID")

        r = self.acl("policy", "read", "-name", name, "-format", "json")
        policy = json.loads(r.stdout)
        self.assertEqual((policy["ID"], policy["Rules"]), (policy_id, WEB_RULES))
        self.assertEqual(list(policy)[:4], ["ID", "Name", "Description", "Rules"])

        r = self.acl("policy", "list")
        self.assertIn("%s:\n   ID:           %s\n" % (name, policy_id), r.stdout)
        self.assertIn("global-management:\n   ID:           %s\n" % GLOBAL_MANAGEMENT, r.stdout)

        # A token with the policy, found again by a prefix of its accessor.
        r = self.acl("token", "create", "-description", "web token", "-policy-name", name)
        accessor, secret = field(r.stdout, "AccessorID"), field(r.stdout, "SecretID")
        self.assertRegex(accessor, "^%s$" % UUID)
        self.assertIn("Policies:\n   %s - %s\n" % (policy_id, name), r.stdout)
        r = self.acl("token", "read", "-accessor-id", accessor[:13])
        self.assertEqual(field(r.stdout, "AccessorID"), accessor)
        self.assertEqual(field(r.stdout, "Description"), "web token")
        self.assertEqual(field(r.stdout, "Local"), "false")
        self.assertRegex(field(r.stdout, "Create Time"), "^%s$" % GO_TIME)

        # The new token may read itself but not the ACL system.
        r = self.acl("token", "read", "-self", token=secret)
        self.assertEqual(field(r.stdout, "AccessorID"), accessor)
        r = self.acl("policy", "list", token=secret, expect=1)
        self.assertIn("Failed to retrieve the policy list: Unexpected response code: 403 "
                      "(Permission denied", r.stderr)

        # A role with the policy and a service identity.
        role = unique_node("web-role")
        r = self.acl("role", "create", "-name", role, "-policy-name", name,
                     "-service-identity", "web:dc1", "-node-identity", "node-1:dc1")
        role_id = field(r.stdout, "ID")
        self.assertRegex(role_id, "^%s$" % UUID)
        self.assertIn("Policies:\n   %s - %s\n" % (policy_id, name), r.stdout)
        self.assertIn("Service Identities:\n   web (Datacenters: dc1)\n", r.stdout)
        self.assertIn("Node Identities:\n   node-1 (Datacenter: dc1)\n", r.stdout)
        r = self.acl("role", "read", "-name", role)
        self.assertEqual(field(r.stdout, "ID"), role_id)
        r = self.acl("role", "list")
        self.assertIn("%s:\n   ID:           %s\n" % (role, role_id), r.stdout)

        # The token takes the role too (replacing nothing else), then lists with both.
        r = self.acl("token", "update", "-accessor-id", accessor, "-append-role-name", role)
        self.assertIn("Roles:\n   %s - %s\n" % (role_id, role), r.stdout)
        self.assertIn("Policies:\n   %s - %s\n" % (policy_id, name), r.stdout)
        r = self.acl("token", "list", "-format", "json")
        tokens = {t["AccessorID"]: t for t in json.loads(r.stdout)}
        self.assertIn(field(self.bootstrap.stdout, "AccessorID"), tokens)
        self.assertEqual([p["Name"] for p in tokens[accessor]["Policies"]], [name])
        self.assertEqual([x["Name"] for x in tokens[accessor]["Roles"]], [role])

        # Delete the token; it is gone, and its secret no longer works.
        r = self.acl("token", "delete", "-accessor-id", accessor)
        self.assertEqual(r.stdout, 'Token "%s" deleted successfully\n' % accessor)
        r = self.acl("token", "read", "-accessor-id", accessor, expect=1)
        self.assertTrue(r.stderr.startswith('Error reading token "%s": Unexpected response code: '
                                            % accessor), describe(r))
        self.assertIn("ACL not found", r.stderr)
        r = self.acl("token", "read", "-self", token=secret, expect=1)
        self.assertIn("ACL not found", r.stderr)

        r = self.acl("role", "delete", "-id", role_id)
        self.assertEqual(r.stdout, 'Role "%s" deleted successfully\n' % role_id)
        r = self.acl("policy", "delete", "-name", name)
        self.assertEqual(r.stdout, 'Policy "%s" deleted successfully\n' % policy_id)
        r = self.acl("policy", "list")
        self.assertNotIn(name + ":", r.stdout)

    def test_builtin_policy_cannot_be_deleted(self):
        r = self.acl("policy", "delete", "-id", "global-management", expect=1)
        self.assertIn("Delete operation not permitted on the builtin global-management policy",
                      r.stderr)

    # ---- agent tokens ------------------------------------------------------------------------

    def test_set_agent_token(self):
        r = self.acl("token", "create", "-description", "agent token", "-node-identity",
                     "%s:dc1" % self.a.node)
        secret = field(r.stdout, "SecretID")
        r = self.acl("set-agent-token", "agent", secret)
        self.assertEqual(r.stdout, 'ACL token "agent" set successfully\n')
        # The token from a file, as @path.
        path = write_file(self.tmp.name, "default.token", secret)
        r = self.acl("set-agent-token", "default", "@" + path)
        self.assertEqual(r.stdout, 'ACL token "default" set successfully\n')
        # Setting agent tokens needs agent:write. A request without a token now runs as the
        # default token just set, whose node identity grants none.
        r = self.acl("set-agent-token", "agent", secret, token="", expect=1)
        self.assertTrue(r.stderr.startswith('Failed to set ACL token "agent": Unexpected '
                                            'response code: 403 ('), describe(r))
        r = self.acl("set-agent-token", "bogus", secret, expect=1)
        self.assertEqual(r.stderr, "Unknown token type\n")


if __name__ == "__main__":
    unittest.main()
