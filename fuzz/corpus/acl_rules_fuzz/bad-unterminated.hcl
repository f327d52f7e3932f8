key_prefix "a" {
  policy = "read"
