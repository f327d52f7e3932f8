key_prefx "a" { policy = "read" }
