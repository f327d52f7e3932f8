#include "http/reply_group.h"

#include <algorithm>

#include "http/server_detail.h"

namespace gangway::http {

using server_detail::ConnectionReply;

void HeaderReply::operator()(Response r) {
  for (auto& [name, value] : headers) r.Set(name, value);
  inner(std::move(r));
}

Reply WithHeader(Reply inner, std::string name, std::string value) {
  if (auto* h = inner.target<HeaderReply>()) {
    h->headers.insert(h->headers.begin(), {std::move(name), std::move(value)});
    return inner;
  }
  return HeaderReply{std::move(inner), {{std::move(name), std::move(value)}}};
}

ReplyGroup::ReplyGroup() = default;
ReplyGroup::~ReplyGroup() = default;

ReplyGroup::Id ReplyGroup::Add(Reply reply) {
  Id id = next_id_++;
  ++live_;
  // Look through the header wrappers, outermost first.
  std::vector<std::pair<std::string, std::string>> headers;
  const Reply* r = &reply;
  while (const auto* h = r->target<HeaderReply>()) {
    headers.insert(headers.end(), h->headers.begin(), h->headers.end());
    r = &h->inner;
  }
  const auto* c = r->target<ConnectionReply>();
  bool alike = batched_ == 0 || headers == headers_;
  if (c == nullptr || c->io == nullptr || !alike) {
    calls_.emplace_back(id, std::move(reply));
    return id;
  }
  if (batched_ == 0) headers_ = std::move(headers);
  ++batched_;
  auto b = std::find_if(batches_.begin(), batches_.end(),
                        [&](const Batch& x) { return x.io == c->io; });
  if (b == batches_.end()) b = batches_.insert(batches_.end(), Batch{c->io, {}});
  b->to.push_back(c->pending);
  return id;
}

void ReplyGroup::Remove(Id id) {
  auto it = std::find_if(calls_.begin(), calls_.end(), [id](const auto& m) { return m.first == id; });
  if (it != calls_.end()) {
    calls_.erase(it);
    --live_;
    return;
  }
  // A batched member: its connection is closing, and answering it would be a no-op (the
  // connection's PendingReply goes with it). It is only no longer counted; when many have gone,
  // the ones already gone are dropped.
  --live_;
  if (batched_ < 64 || batched_ < 2 * live_) return;
  batched_ = 0;
  for (auto& b : batches_) {
    std::erase_if(b.to, [](const auto& w) { return w.expired(); });
    batched_ += b.to.size();
  }
}

void ReplyGroup::Send(Response r) {
  auto batches = std::move(batches_);
  auto calls = std::move(calls_);
  auto headers = std::move(headers_);
  batches_.clear();
  calls_.clear();
  headers_.clear();
  live_ = 0;
  batched_ = 0;
  if (calls.size() + batches.size() > 1) r.ShareBody();  // one copy of the bytes for all
  if (!batches.empty()) {
    Response b;
    if (calls.empty()) {
      b = std::move(r);
    } else {
      b = r;
    }
    for (auto& [name, value] : headers) b.Set(name, value);
    auto shared = std::make_shared<const Response>(std::move(b));
    std::vector<server_detail::Fanout::Part> parts;
    parts.reserve(batches.size());
    for (auto& batch : batches) parts.push_back({std::move(batch.io), std::move(batch.to)});
    server_detail::Fanout::Start(std::move(shared), std::move(parts));
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i + 1 == calls.size()) {
      calls[i].second(std::move(r));
    } else {
      calls[i].second(r);
    }
  }
}

}  // namespace gangway::http
