operator {
  policy = "read"
}
