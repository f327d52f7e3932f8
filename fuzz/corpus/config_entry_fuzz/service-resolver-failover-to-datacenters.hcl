Kind           = "service-resolver"
Name           = "api"
ConnectTimeout = "15s"
Failover = {
  "*" = {
    Datacenters = ["dc2", "dc3"]
  }
}
