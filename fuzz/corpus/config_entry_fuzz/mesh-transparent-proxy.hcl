Kind = "mesh"
TransparentProxy {
  MeshDestinationsOnly = true
}
TLS {
  Incoming {
    TLSMinVersion = "TLSv1_2"
  }
}
