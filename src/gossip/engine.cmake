# The memberlist protocol engine (docs/gossip.md), on top of the wire layer.
gangway_library(gossip SOURCES transport.cc broadcast_queue.cc memberlist.cc
  DEPS gangway_gossip_wire gangway_core)
# Test-only: the simulated network on core's SimLoop; linked by tests, never by production code.
gangway_library(gossip_testing SOURCES testing/sim.cc DEPS gangway_gossip gangway_core_testing)
gangway_test(memberlist_test SOURCES memberlist_test.cc DEPS gangway_gossip_testing)
