a = <<EOF
line
  two
EOF
b = <<-EOT
    x
    EOT
c = "\u00e9\U0001F600 ${x}"
d = [1, -2, 3.5, 1e3, 0x1F, true, null]
