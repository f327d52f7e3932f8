node "n" {
  policy = "read"
  polcy = "write"
}
