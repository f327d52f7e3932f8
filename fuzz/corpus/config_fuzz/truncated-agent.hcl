# dc1 server
datacenter = "dc1"
primary_datacenter = "dc1"
server = true
bootstrap_expect = 1
retry_join = ["10.1.1.1", "10.1.1.2",]
ports {
  http = 8500
  grpc = 8502
}
connect { enabled = true }
tl