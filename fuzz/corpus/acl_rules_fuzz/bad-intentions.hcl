service_prefix "" {
  policy = "read"
  intentions = "list"
}
