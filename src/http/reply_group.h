// Many requests answered with one Response: the waiters of one blocking query (api::BlockingWith),
// the readers of one forwarded request (rpc::Forwarder). Loop thread only (the one the members'
// Replies belong to).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/message.h"

namespace gangway::http {

namespace server_detail {
struct IoThread;
struct PendingReply;
}  // namespace server_detail

// A Reply that sets headers on the answer, in order, before handing it on
// (X-Consul-Effective-Consistency, X-Consul-Default-ACL-Policy). A named type, so that a
// ReplyGroup can look through it.
struct HeaderReply {
  Reply inner;
  std::vector<std::pair<std::string, std::string>> headers;

  void operator()(Response r);
};

// Wraps `inner` so that the answer carries the header; an `inner` that is already a HeaderReply
// gets the header added to its list (first, as an outer wrapper would set it first).
Reply WithHeader(Reply inner, std::string name, std::string value);

// A member that is a connection of http::Server (seen through HeaderReply) is not called: Send
// hands each I/O thread all of its member connections in one post, sharing one Response, with
// no std::function call, no copy of the answer and no touch of the connection's objects on the
// loop. Any other Reply is called one by one with a copy (its body shared).
class ReplyGroup {
 public:
  using Id = uint64_t;

  ReplyGroup();
  ~ReplyGroup();
  ReplyGroup(const ReplyGroup&) = delete;
  ReplyGroup& operator=(const ReplyGroup&) = delete;

  Id Add(Reply reply);
  // A member that went away (its client hung up): no longer counted, and not answered.
  void Remove(Id id);
  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  // Answers every member and empties the group.
  void Send(Response r);

 private:
  struct Batch {
    std::shared_ptr<server_detail::IoThread> io;
    std::vector<std::weak_ptr<server_detail::PendingReply>> to;
  };
  std::vector<Batch> batches_;
  // The headers of the batched members' HeaderReplies: alike for all of them (a member whose
  // differ is called instead).
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<std::pair<Id, Reply>> calls_;
  Id next_id_ = 0;
  size_t live_ = 0;
  size_t batched_ = 0;  // batched members, gone ones included
};

}  // namespace gangway::http
