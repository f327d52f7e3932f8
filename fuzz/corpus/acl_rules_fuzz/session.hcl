session "n1" { policy = "write" }
session_prefix "" { policy = "deny" }
