// Loopback ports for tests that must name a port before something binds it (libraft's address,
// a serf agent's flags). Picked outside the kernel's ephemeral range, so no socket bound to port
// 0 or connecting out takes one meanwhile, and reserved against every other test process (C++
// or Python, tests/integration/test_raft.py) by a lock on /tmp/gangway-test-ports/<port> held
// until this process exits. Any thread; test code only.
#pragma once

namespace gangway::testing {

// A port free on 127.0.0.1 for TCP and UDP when returned, never returned twice by this process
// and held by no other test process.
int ReservePort();

}  // namespace gangway::testing
