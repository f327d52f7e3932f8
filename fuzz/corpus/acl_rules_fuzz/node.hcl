node "n1" { policy = "write" }
node_prefix "" { policy = "read" }
