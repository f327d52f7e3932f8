service "we\"ird\\ \t\u0001 name ☃" { policy = "deny" }
key "\u00e9t\u00e9" { policy = "read" }
