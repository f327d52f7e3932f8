#include "http/message.h"

#include <strings.h>

#include "core/strings.h"

namespace gangway::http {

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return ::strcasecmp(a.c_str(), b.c_str()) < 0;
}

bool Request::Has(const std::string& name) const { return Query(name).has_value(); }

std::optional<std::string> Request::Query(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Request::QueryAll(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == name) out.push_back(v);
  }
  return out;
}

bool Request::ParseTarget(const std::string& target, std::string* path,
                          std::vector<std::pair<std::string, std::string>>* query) {
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  *path = UrlDecode(target.substr(0, q));
  query->clear();
  if (q == std::string::npos) return true;
  std::string qs = target.substr(q + 1);
  for (const auto& part : Split(qs, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto decode = [](std::string s) {
      for (auto& c : s) {
        if (c == '+') c = ' ';
      }
      return UrlDecode(s);
    };
    if (eq == std::string::npos) {
      query->emplace_back(decode(part), "");
    } else {
      query->emplace_back(decode(part.substr(0, eq)), decode(part.substr(eq + 1)));
    }
  }
  return true;
}

void Response::Set(const std::string& name, std::string value) {
  for (auto& [k, v] : headers) {
    if (k.size() == name.size() && ::strcasecmp(k.c_str(), name.c_str()) == 0) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(name, std::move(value));
}

void Response::ShareBody() {
  if (shared_body) return;
  shared_body = std::make_shared<const std::string>(std::move(body));
  body.clear();
}

void Response::UnshareBody() {
  if (!shared_body) return;
  body = *shared_body;
  shared_body.reset();
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.Set("Content-Type", "text/plain; charset=utf-8");
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.Set("Content-Type", "application/json");
  return r;
}

}  // namespace gangway::http
