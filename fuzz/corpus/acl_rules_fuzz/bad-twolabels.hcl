key_prefix "a" "b" { policy = "read" }
