kind = "proxy-defaults"
name = "global"
mode = "transparent"
transparent_proxy {
  outbound_listener_port = 15001
}
access_logs {
  enabled = true
  type    = "file"
  path    = "/var/log/envoy.log"
}
