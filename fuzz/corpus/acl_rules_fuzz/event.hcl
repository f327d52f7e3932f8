event "deploy" { policy = "write" }
event_prefix "" { policy = "read" }
