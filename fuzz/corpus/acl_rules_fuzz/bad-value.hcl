key_prefix "app/" {
  policy = "x"
}
