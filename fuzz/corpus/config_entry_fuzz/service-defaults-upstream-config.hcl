Kind = "service-defaults"
Name = "web"
UpstreamConfig {
  Defaults {
    ConnectTimeoutMs = 5000
    Limits {
      MaxConnections = 100
    }
  }
  Overrides = [
    {
      Name = "api"
      Protocol = "http"
      PassiveHealthCheck {
        Interval = "10s"
        MaxFailures = 5
      }
    }
  ]
}
Meta = {
  owner = "team-a"
}
