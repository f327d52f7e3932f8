#include "agent/proxy_sources.h"

#include <algorithm>
#include <utility>

#include "agent/loopback.h"
#include "apiclient/escape.h"
#include "apiclient/response.h"
#include "catalog/json.h"
#include "codec/document.h"
#include "meshcfg/config_entry.h"

namespace gangway::agent {
namespace {

using Json = nlohmann::json;
using proxycfg::HealthQuery;
using proxycfg::Subscription;

Duration Backoff(int failures, const ProxySourcesOptions& o) {
  return std::min<Duration>(o.retry_base * failures, o.retry_max);
}

// One endpoint of the agent's API read over and over: as a blocking query (?index=) re-armed
// after every answer, or polled every `interval`. `on_answer` gets each changed body and each
// failure. The first request is posted, so no answer arrives inside the constructor.
class ApiWatch : public Subscription {
 public:
  using OnAnswer = std::function<void(Result<Json>)>;

  ApiWatch(Loop& loop, http::Handler* const* api, std::string target, Duration interval,
           const ProxySourcesOptions& options, OnAnswer on_answer)
      : loop_(loop),
        api_(api),
        target_(std::move(target)),
        interval_(interval),
        options_(options),
        on_answer_(std::move(on_answer)) {
    loop_.Post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired()) Query();
    });
  }

  ~ApiWatch() override {
    alive_.reset();
    if (cancel_ && cancel_->on_cancel) {
      auto cancel = std::move(cancel_->on_cancel);
      cancel();
    }
  }

 private:
  bool blocking() const { return interval_ == Duration::zero(); }

  void Query() {
    std::string target = target_;
    if (blocking() && index_ > 0) {
      target += (target.find('?') == std::string::npos ? "?" : "&");
      target += "index=" + std::to_string(index_) + "&wait=" +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.wait)
                                   .count()) +
                "s";
    }
    cancel_ = std::make_shared<http::Cancellation>();
    LoopbackRequest(api_, "GET", std::move(target), "", cancel_,
                    [this, alive = std::weak_ptr<bool>(alive_)](const http::Response& r) {
                      if (alive.expired()) return;
                      OnResponse(r);
                    });
  }

  void OnResponse(const http::Response& r) {
    std::weak_ptr<bool> alive = alive_;
    if (r.status != 200) {
      ++failures_;
      on_answer_(apiclient::UnexpectedResponse(r));
      if (!alive.expired()) Again(Backoff(failures_, options_));
      return;
    }
    failures_ = 0;
    uint64_t index = apiclient::IndexOf(r);
    // An index that went backwards (servers restored) is taken as it is: the next query blocks
    // on the servers' own numbering.
    index_ = std::max<uint64_t>(index, 1);
    if (r.body != last_body_) {
      last_body_ = r.body;
      on_answer_(apiclient::JsonBody(r));
    }
    if (!alive.expired()) Again(blocking() ? Duration::zero() : interval_);
  }

  void Again(Duration after) {
    auto fire = [this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired()) Query();
    };
    if (after == Duration::zero()) {
      loop_.Post(std::move(fire));  // an answer given inline must not recurse
    } else {
      timer_ = loop_.After(after, std::move(fire));
    }
  }

  Loop& loop_;
  http::Handler* const* api_;
  std::string target_;
  Duration interval_;
  ProxySourcesOptions options_;
  OnAnswer on_answer_;
  uint64_t index_ = 0;
  int failures_ = 0;
  std::string last_body_;
  std::shared_ptr<http::Cancellation> cancel_;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The leaf cache's blocking reads (leaf or roots) in a loop. The cache cannot be told to forget
// a parked read; one that answers after the watch is gone finds it expired.
class CacheWatch : public Subscription {
 public:
  using Read = std::function<void(uint64_t min_index, std::function<void(Result<Json>, uint64_t)>)>;

  CacheWatch(Loop& loop, Read read, const ProxySourcesOptions& options,
             std::function<void(Result<Json>)> on_answer)
      : loop_(loop), read_(std::move(read)), options_(options), on_answer_(std::move(on_answer)) {
    loop_.Post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired()) Query();
    });
  }

 private:
  void Query() {
    read_(index_, [this, alive = std::weak_ptr<bool>(alive_)](Result<Json> r, uint64_t index) {
      if (alive.expired()) return;
      if (!r.ok()) {
        ++failures_;
        on_answer_(r.status());
        if (alive.expired()) return;
        timer_ = loop_.After(Backoff(failures_, options_), [this, alive] {
          if (!alive.expired()) Query();
        });
        return;
      }
      failures_ = 0;
      const bool changed = index != index_;
      index_ = index;
      if (changed) on_answer_(std::move(*r));
      if (alive.expired()) return;
      loop_.Post([this, alive] {
        if (!alive.expired()) Query();
      });
    });
  }

  Loop& loop_;
  Read read_;
  ProxySourcesOptions options_;
  std::function<void(Result<Json>)> on_answer_;
  uint64_t index_ = 0;
  int failures_ = 0;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Connect is off on this agent: one error, reported on the loop.
class Refused : public Subscription {
 public:
  template <typename Callback>
  Refused(Loop& loop, Callback callback) {
    loop.Post([alive = std::weak_ptr<bool>(alive_), callback = std::move(callback)] {
      if (!alive.expired()) callback(Unavailable("Connect is not enabled on this agent"));
    });
  }

 private:
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

template <typename T>
std::function<void(Result<Json>)> Decoded(
    std::function<Result<T>(const Json&)> read,
    std::function<void(Result<T>)> callback) {
  return [read = std::move(read), callback = std::move(callback)](Result<Json> j) {
    if (!j.ok()) return callback(j.status());
    callback(read(*j));
  };
}

}  // namespace

std::string HealthTarget(const HealthQuery& q) {
  std::string target;
  switch (q.kind) {
    case HealthQuery::Kind::kConnect:
      target = "/v1/health/connect/" + apiclient::EscapePathSegment(q.name) + "?";
      break;
    case HealthQuery::Kind::kService:
      target = "/v1/health/service/" + apiclient::EscapePathSegment(q.name) + "?";
      break;
    case HealthQuery::Kind::kDump:
      target = "/v1/internal/service-dump?kind=" + apiclient::EscapeQueryValue(q.name) + "&";
      break;
  }
  return target + "dc=" + apiclient::EscapeQueryValue(q.datacenter);
}

Result<std::vector<catalog::CheckServiceNode>> ReadNodes(const Json& body) {
  if (!body.is_array()) return InvalidArgument("expected a JSON array of service instances");
  std::vector<catalog::CheckServiceNode> out;
  out.reserve(body.size());
  for (const Json& row : body) {
    auto csn = catalog::CheckServiceNodeFromJson(row);
    if (!csn.ok()) return csn.status();
    out.push_back(std::move(*csn));
  }
  return out;
}

Result<proxycfg::Roots> ReadRoots(const Json& body) {
  if (!body.is_object()) return InvalidArgument("expected the CA roots document");
  proxycfg::Roots roots;
  roots.trust_domain = apiclient::JsonString(body, "TrustDomain");
  const Json& list = body.contains("Roots") ? body["Roots"] : Json::array();
  if (!list.is_array()) return InvalidArgument("CA roots: \"Roots\" is not an array");
  std::vector<std::string> others;
  for (const Json& r : list) {
    std::string pem = apiclient::JsonString(r, "RootCert");
    if (pem.empty()) continue;
    (apiclient::JsonBool(r, "Active") ? roots.pems : others).push_back(std::move(pem));
  }
  roots.pems.insert(roots.pems.end(), others.begin(), others.end());
  if (roots.trust_domain.empty() || roots.pems.empty()) {
    return Unavailable("the Connect CA has no roots yet");
  }
  return roots;
}

Result<std::vector<meshcfg::ConfigEntry>> ReadConfigEntries(const Json& body) {
  if (!body.is_array()) return InvalidArgument("expected a JSON array of config entries");
  std::vector<meshcfg::ConfigEntry> out;
  out.reserve(body.size());
  for (const Json& row : body) {
    codec::Document doc;
    doc.value = row;
    auto entry = meshcfg::DecodeConfigEntry(doc);
    if (!entry.ok()) return InvalidArgument("config entry: " + entry.status().message());
    if (Status s = meshcfg::Normalize(&*entry); !s.ok()) return s;
    out.push_back(std::move(*entry));
  }
  return out;
}

Result<proxy::Leaf> ReadLeaf(const Json& cert) {
  proxy::Leaf leaf;
  leaf.cert_pem = apiclient::JsonString(cert, "CertPEM");
  leaf.private_key_pem = apiclient::JsonString(cert, "PrivateKeyPEM");
  leaf.spiffe_id = apiclient::JsonString(cert, "ServiceURI");
  leaf.valid_before = apiclient::JsonString(cert, "ValidBefore");
  if (leaf.cert_pem.empty() || leaf.private_key_pem.empty() || leaf.spiffe_id.empty()) {
    return InvalidArgument("the leaf certificate lacks CertPEM, PrivateKeyPEM or ServiceURI");
  }
  return leaf;
}

Result<std::vector<meshcfg::ConfigEntry>> ReadChainEntries(const Json& body) {
  if (!body.is_array()) return InvalidArgument("expected a JSON array of config entries");
  static const char* const kKinds[] = {"proxy-defaults", "service-defaults", "service-resolver",
                                       "service-router", "service-splitter"};
  std::vector<meshcfg::ConfigEntry> out;
  for (const Json& row : body) {
    const std::string kind = apiclient::JsonString(row, "Kind");
    if (std::find(std::begin(kKinds), std::end(kKinds), kind) == std::end(kKinds)) continue;
    codec::Document doc;
    doc.value = row;
    Result<meshcfg::ConfigEntry> entry = meshcfg::DecodeConfigEntry(doc);
    if (!entry.ok()) {
      return InvalidArgument("config entry " + kind + "/" + apiclient::JsonString(row, "Name") +
                             ": " + entry.status().message());
    }
    out.push_back(std::move(*entry));
  }
  return out;
}

ProxySources::ProxySources(Loop& loop, http::Handler* const* api, client::LeafCache* leaves,
                           ProxySourcesOptions options)
    : loop_(loop), api_(api), leaves_(leaves), options_(options) {}

std::unique_ptr<Subscription> ProxySources::Health(
    const HealthQuery& query, Callback<std::vector<catalog::CheckServiceNode>> callback) {
  return std::make_unique<ApiWatch>(
      loop_, api_, HealthTarget(query), Duration::zero(), options_,
      Decoded<std::vector<catalog::CheckServiceNode>>(ReadNodes, std::move(callback)));
}

std::unique_ptr<Subscription> ProxySources::Datacenters(
    Callback<std::vector<std::string>> callback) {
  auto read = [](const Json& body) -> Result<std::vector<std::string>> {
    if (!body.is_array()) return InvalidArgument("expected a JSON array of datacenters");
    std::vector<std::string> out;
    for (const Json& dc : body) {
      if (dc.is_string()) out.push_back(dc.get<std::string>());
    }
    return out;
  };
  return std::make_unique<ApiWatch>(
      loop_, api_, "/v1/catalog/datacenters", options_.datacenters_interval, options_,
      Decoded<std::vector<std::string>>(read, std::move(callback)));
}

std::unique_ptr<Subscription> ProxySources::ConfigEntries(
    const std::string& kind, Callback<std::vector<meshcfg::ConfigEntry>> callback) {
  return std::make_unique<ApiWatch>(
      loop_, api_, "/v1/config/" + apiclient::EscapePathSegment(kind), Duration::zero(), options_,
      Decoded<std::vector<meshcfg::ConfigEntry>>(ReadConfigEntries, std::move(callback)));
}

std::unique_ptr<Subscription> ProxySources::ConnectRoots(Callback<proxycfg::Roots> callback) {
  if (leaves_ == nullptr) return std::make_unique<Refused>(loop_, std::move(callback));
  client::LeafCache* cache = leaves_;
  Duration wait = options_.wait;
  return std::make_unique<CacheWatch>(
      loop_,
      [cache, wait](uint64_t min_index, std::function<void(Result<Json>, uint64_t)> done) {
        cache->GetRoots(min_index, wait, std::move(done));
      },
      options_, Decoded<proxycfg::Roots>(ReadRoots, std::move(callback)));
}

std::unique_ptr<Subscription> ProxySources::Leaf(const std::string& service,
                                                 Callback<proxy::Leaf> callback) {
  if (leaves_ == nullptr) return std::make_unique<Refused>(loop_, std::move(callback));
  client::LeafCache* cache = leaves_;
  Duration wait = options_.wait;
  auto token_of = options_.leaf_token;
  return std::make_unique<CacheWatch>(
      loop_,
      [cache, service, wait, token_of](uint64_t min_index,
                                       std::function<void(Result<Json>, uint64_t)> done) {
        cache->GetLeaf(service, min_index, wait,
                       [done = std::move(done)](Result<client::LeafCache::Leaf> leaf) {
                         if (!leaf.ok()) return done(leaf.status(), 0);
                         done(std::move(leaf->cert), leaf->index);
                       },
                       token_of ? token_of(service) : std::string());
      },
      options_, Decoded<proxy::Leaf>(ReadLeaf, std::move(callback)));
}

std::unique_ptr<Subscription> ProxySources::ChainEntries(
    Callback<std::vector<meshcfg::ConfigEntry>> callback) {
  return std::make_unique<ApiWatch>(
      loop_, api_, "/v1/internal/config-entries", Duration::zero(), options_,
      Decoded<std::vector<meshcfg::ConfigEntry>>(ReadChainEntries, std::move(callback)));
}

}  // namespace gangway::agent
