# The memberlist protocol engine and its simulator (docs/gossip.md), on top of the wire layer.
gangway_library(gossip SOURCES transport.cc broadcast_queue.cc memberlist.cc testing/sim.cc
  DEPS gangway_gossip_wire gangway_core)
gangway_test(memberlist_test SOURCES memberlist_test.cc DEPS gangway_gossip)
