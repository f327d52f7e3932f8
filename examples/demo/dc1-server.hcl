# dc1's server, written the way the mesh-gateway tutorial writes it (step 1): retry_join names
# dc2's server. Gangway joins it over the WAN and prints a note naming the canonical key
# (retry_join_wan).
server         = true
bootstrap      = true # the only server of dc1
datacenter     = "dc1"
retry_join     = ["127.0.0.1:9301"] # dc2's server
retry_interval = "1s"
ports {
  http     = 8500
  dns      = 8600
  server   = 8300
  serf_lan = 8301
  serf_wan = 8302
}
# Connect: dc1 is the primary datacenter; its leader creates the CA root and trust domain.
primary_datacenter = "dc1"
connect {
  enabled = true
}
