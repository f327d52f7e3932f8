Kind = "service-router"
Name = "x"
Services { api { Datacenter = "dc2" } }
Routes = [{ Services { billing { Datacenter = "dc3" } }, Destination { Service = "billing-v2" }, MeshGateway { Name = "gw" } }]
