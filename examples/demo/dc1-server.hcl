# dc1's first server, written the way the mesh-gateway tutorial writes it: retry_join lists
# this datacenter's servers and dc2's server. Gangway joins dc1's over the LAN, dc2's over the
# WAN, and prints a note naming the canonical key (retry_join_wan).
server           = true
bootstrap_expect = 3
datacenter       = "dc1"
retry_join       = ["127.0.0.1:8311", "127.0.0.1:8321", "127.0.0.1:9301"]
retry_interval   = "1s"
ports {
  http     = 8500
  dns      = -1
  server   = 8300
  serf_lan = 8301
  serf_wan = 8302
}
# Connect: dc1 is the primary datacenter; its leader creates the CA root and trust domain.
primary_datacenter = "dc1"
connect {
  enabled = true
}
