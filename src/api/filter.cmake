gangway_library(api_filter SOURCES filter.cc
  DEPS gangway_core gangway_core_regexp nlohmann_json::nlohmann_json)
gangway_test(filter_test SOURCES filter_test.cc DEPS gangway_api_filter)
