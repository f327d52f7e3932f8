# A web service with a TTL check the demo keeps passing, and a Connect sidecar.
service {
  name = "web"
  port = 8080
  tags = ["v1", "primary"]
  meta = { version = "1" }
  check {
    id   = "web-ttl"
    name = "web heartbeat"
    ttl  = "30s"
  }
  connect {
    sidecar_service {}
  }
}
