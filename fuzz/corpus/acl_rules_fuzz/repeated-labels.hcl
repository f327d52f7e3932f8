key_prefix "a/" { policy = "read" }
key_prefix "b/" { policy = "write" }
key_prefix "a/" { policy = "deny" }
key_prefix "a/" { policy = "list" }
