namespace "team" {
  policy = "read"
}
