# web, in dc1: the app on 8080 and its sidecar on 21000. The sidecar's upstream names api only,
# on 127.0.0.1:9191: api has no instance in dc1, so this reaches nothing until the tutorial's
# step 4 router (dc1-service-router-to-dc2.json) sends api's traffic to dc2 through dc1's mesh
# gateway, which forwards to dc2's.
service {
  name = "web"
  port = 8080
  tags = ["v1"]
  check {
    name     = "web listening"
    tcp      = "127.0.0.1:8080"
    interval = "10s"
    timeout  = "1s"
  }
  connect {
    sidecar_service {
      address = "127.0.0.1"
      port    = 21000
      proxy {
        upstreams = [
          {
            destination_name = "api"
            local_bind_port  = 9191
          }
        ]
      }
    }
  }
}
