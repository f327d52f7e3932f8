service "web" { policy = "list" }
