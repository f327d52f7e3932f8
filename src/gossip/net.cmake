# The socket-backed Transport (Asio), kept apart from the pure protocol libraries.
gangway_library(gossip_net SOURCES udp_transport.cc DEPS gangway_gossip gangway_net)
gangway_test(gossip_net_test SOURCES udp_transport_test.cc DEPS gangway_gossip_net)
