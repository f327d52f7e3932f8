agent "n1" { policy = "read" }
agent_prefix "" { policy = "deny" }
