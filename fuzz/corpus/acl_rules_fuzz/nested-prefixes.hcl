key_prefix "" { policy = "read" }
key_prefix "a" { policy = "write" }
key_prefix "ab" { policy = "deny" }
key_prefix "abc" { policy = "list" }
key "abd" { policy = "write" }
key_prefix "b" { policy = "deny" }
