// Test nonce source: hands out one fixed nonce (or a scripted list, then the last again), so
// sealed packets and streams can be reproduced byte for byte. Not for production use.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "gossip/security.h"

namespace gangway::gossip::testing {

class FixedNonceSource final : public NonceSource {
 public:
  explicit FixedNonceSource(Nonce nonce) : nonces_{nonce} {}
  explicit FixedNonceSource(std::vector<Nonce> nonces) : nonces_(std::move(nonces)) {}

  Status Next(Nonce* out) override {
    if (nonces_.empty()) return Internal("no nonce scripted");
    *out = nonces_[std::min(next_, nonces_.size() - 1)];
    ++next_;
    return Status::Ok();
  }
  size_t used() const { return next_; }

 private:
  std::vector<Nonce> nonces_;
  size_t next_ = 0;
};

}  // namespace gangway::gossip::testing
