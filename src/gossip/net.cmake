# The socket-backed Transport (Asio), kept apart from the pure protocol libraries.
gangway_library(gossip_net SOURCES udp_transport.cc DEPS gangway_gossip gangway_net)
gangway_library(gossip_pool SOURCES pool.cc DEPS gangway_gossip_net gangway_gossip_serf)
gangway_test(gossip_net_test SOURCES udp_transport_test.cc DEPS gangway_gossip_net)
# Serf over real loopback sockets (the full stack).
gangway_test(serf_loopback_test SOURCES serf_loopback_test.cc
  DEPS gangway_gossip_net gangway_gossip_serf LABELS "unit;gossip")
# Against Debian's serf agent (a real process on loopback); skips when serf is absent.
gangway_test(serf_interop_test SOURCES serf_interop_test.cc
  DEPS gangway_gossip_net gangway_gossip_serf gangway_core_testing LABELS "integration;gossip")
