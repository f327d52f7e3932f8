"""A client agent restarted with its data dir still has the services registered through its API
(Consul keeps them in data_dir/services), so the proxies that follow them reconnect to a config;
deregistered services stay gone, and a -dev agent keeps nothing."""
import tempfile
import unittest

from harness import Agent, wait_until


def service_ids(agent):
    status, _, body = agent.json("GET", "/v1/agent/services")
    assert status == 200, body
    return sorted(body.keys())


class AgentRestartTest(unittest.TestCase):
    def test_api_registrations_survive_a_restart(self):
        work = tempfile.TemporaryDirectory(prefix="gangway-restart-")
        self.addCleanup(work.cleanup)
        agent = Agent(dev=False, workdir=work.name)
        self.addCleanup(agent.stop)
        agent.start([])
        web = {"Name": "web", "Port": 8080, "Connect": {"SidecarService": {"Port": 21500}}}
        agent.put("/v1/agent/service/register", web)
        agent.put("/v1/agent/service/register", {"ID": "db-1", "Name": "db", "Port": 5432})
        agent.put("/v1/agent/service/register", {"Name": "gone"})
        agent.put("/v1/agent/service/deregister/gone")
        before = service_ids(agent)
        self.assertEqual(before, ["db-1", "web", "web-sidecar-proxy"])

        agent.stop()
        agent.start([])
        wait_until(lambda: service_ids(agent) == before, timeout=15,
                   msg=lambda: "services after restart: %s\n%s" % (service_ids(agent),
                                                                 agent.output()))
        status, _, svc = agent.json("GET", "/v1/agent/service/web-sidecar-proxy")
        self.assertEqual(status, 200, svc)
        self.assertEqual(svc["Port"], 21500)
        self.assertIn("restored 2 service(s)", agent.output())

    def test_a_dev_agent_keeps_nothing(self):
        work = tempfile.TemporaryDirectory(prefix="gangway-restart-")
        self.addCleanup(work.cleanup)
        agent = Agent(workdir=work.name)
        self.addCleanup(agent.stop)
        agent.start([])
        agent.put("/v1/agent/service/register", {"Name": "web"})
        agent.stop()
        agent.start([])
        self.assertNotIn("web", service_ids(agent))


if __name__ == "__main__":
    unittest.main()
