query "q" { policy = "write" }
query_prefix "" { policy = "read" }
