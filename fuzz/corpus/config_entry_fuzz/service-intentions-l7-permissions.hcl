Kind = "service-intentions"
Name = "api"
Sources = [
  {
    Name = "web"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/v1/"
          Methods    = ["get", "HEAD"]
          Header = [
            { Name = "x-user", Present = true },
          ]
        }
      },
      {
        Action = "deny"
        HTTP {
          PathRegex = "^/admin"
        }
      },
    ]
  },
]
