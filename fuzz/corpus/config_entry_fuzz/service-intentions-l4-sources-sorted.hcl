Kind = "service-intentions"
Name = "api"
Sources = [
  {
    Name   = "*"
    Action = "deny"
  },
  {
    Name   = "web"
    Action = "Allow"
    Description = "web may call api"
  },
]
