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
tls {
  defaults {
    ca_file = "/etc/gangway/ca.pem"
    verify_incoming = false
  }
}
service {
  name = "web"
  port = 8080
  check {
    http     = "http://localhost:8080/health"
    interval = "10s"
  }
}
service {
  name = "api"
  port = 9090
}
