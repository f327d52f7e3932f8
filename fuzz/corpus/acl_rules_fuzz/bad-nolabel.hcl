key_prefix {
  policy = "write"
}
