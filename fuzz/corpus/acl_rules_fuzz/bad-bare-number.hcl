keyring = 3
