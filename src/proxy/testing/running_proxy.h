// A proxy Runtime with two workers serving a config on real sockets, for tests; stops at
// destruction. Kept apart from harness.h, which stays free of Asio so that tests using only it
// compile quickly. Used from the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string_view>
#include <utility>

#include "proxy/config/config.h"
#include "proxy/runtime.h"

namespace gangway::proxy::testing {

class RunningProxy {
 public:
  explicit RunningProxy(Config config) {
    RuntimeOptions options;
    options.workers = 2;
    options.admin_port = -1;
    options.handshake_timeout = std::chrono::milliseconds(3000);
    EXPECT_TRUE(runtime.Start(options).ok());
    Apply(std::move(config));
  }
  void Apply(Config config) {
    Status s = runtime.Apply(std::make_shared<const Config>(std::move(config)));
    EXPECT_TRUE(s.ok()) << s.message();
  }
  int Port(std::string_view listener) const { return runtime.ListenerPort(listener); }

  Runtime runtime;
};

}  // namespace gangway::proxy::testing
