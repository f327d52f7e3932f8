node "n1" {
}
