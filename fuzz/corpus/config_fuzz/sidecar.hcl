service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["v1"]
  meta { version = "2" }
  tagged_addresses {
    lan { address = "10.0.0.5", port = 8080 }
    wan { address = "203.0.113.5", port = 18080 }
  }
  checks = [{ ttl = "30s", status = "passing" }]
  connect {
    sidecar_service {
      proxy {
        config { protocol = "http" }
        upstreams {
          destination_name = "api"
          datacenter       = "dc2"
          local_bind_port  = 9191
          mesh_gateway { mode = "local" }
        }
        upstreams {
          destination_type       = "prepared_query"
          destination_name       = "db"
          local_bind_socket_path = "/tmp/db.sock"
        }
        expose {
          checks = true
          paths { path = "/metrics", local_path_port = 8080, listener_port = 21500 }
        }
      }
    }
  }
}
