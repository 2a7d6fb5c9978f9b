"""Format adapters: the network-free protocol knowledge of each package ecosystem."""
