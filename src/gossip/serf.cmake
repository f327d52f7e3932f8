# Serf on top of memberlist (docs/gossip.md): members, tags, intents, user events, queries, reaping.
gangway_library(gossip_serf SOURCES serf.cc DEPS gangway_gossip gangway_coordinate gangway_core_regexp)
gangway_test(serf_test SOURCES serf_test.cc DEPS gangway_gossip_serf gangway_gossip_testing)
