kind = "service-intentions"
name = "api"
sources {
  name = "*"
  action = "DENY"
}
sources {
  Name = "web"
  permissions = [{ action = "allow", http = { path_exact = "/", methods = ["get"] } }]
}
Meta { a = "b" }
