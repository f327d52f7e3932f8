Kind = "service-router"
Name = "web"
Routes = [
  {
    Match {
      HTTP {
        PathPrefix = "/admin"
      }
    }
    Destination {
      Service       = "admin"
      PrefixRewrite = "/"
    }
  },
  {
    Match {
      HTTP {
        PathRegex = "^/api/v[0-9]+/"
        Header = [
          { Name = "x-debug", Exact = "1" },
        ]
        QueryParam = [
          { Name = "canary", Present = true },
        ]
        Methods = ["get", "post"]
      }
    }
    Destination {
      Service               = "api-dc2"
      RequestTimeout        = "2s"
      NumRetries            = 3
      RetryOnConnectFailure = true
      RetryOn               = ["5xx", "gateway-error"]
      RetryOnStatusCodes    = [503]
    }
  },
]
