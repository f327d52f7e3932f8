service "web" { port = 1 }
service "api" { port = 2 }
x "l" { a = 1 }
x "l" { a = 2 }
o = { "k": "v", n = { m = 0 } }
