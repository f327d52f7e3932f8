# dc2's only server: bootstraps alone; dc1 finds it over the WAN. Its CA is an intermediate
# signed by dc1's root, so services in both datacenters share one trust domain, and the mesh
# gateways of the two datacenters trust each other (the tutorial's step 3).
server     = true
bootstrap  = true
datacenter = "dc2"
ports {
  http     = 9500
  dns      = -1
  server   = 9300
  serf_lan = 9301
  serf_wan = 9302
  # Both datacenters run on one host: dc2's sidecars take their ports from another range.
  sidecar_min_port = 22000
  sidecar_max_port = 22255
}
primary_datacenter = "dc1"
connect {
  enabled = true
}
