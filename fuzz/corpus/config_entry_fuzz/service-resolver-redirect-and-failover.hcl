Kind = "service-resolver"
Name = "api"
Redirect {
  Service = "other"
}
Failover = {
  "*" = { Datacenters = ["dc2"] }
}
