service {
  name = "web"
  port = 9000
  check {
    id       = "web-grpc"
    grpc     = "127.0.0.1:9000/web"
    grpc_use_tls = true
    tls_skip_verify = true
    interval = "10s"
  }
  check {
    id             = "web-h2ping"
    h2ping         = "127.0.0.1:9443"
    h2ping_use_tls = false
    interval       = "10s"
    timeout        = "1s"
  }
}
