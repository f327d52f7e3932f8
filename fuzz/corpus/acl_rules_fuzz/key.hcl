key_prefix "" { policy = "write" }
key "app/secret" { policy = "deny" }
key_prefix "app/" { policy = "list" }
