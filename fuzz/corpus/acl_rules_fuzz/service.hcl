service "web" {
  policy = "write"
  intentions = "write"
}
service_prefix "" {
  policy = "read"
  intentions = "deny"
}
