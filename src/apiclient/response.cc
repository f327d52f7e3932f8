#include "apiclient/response.h"

#include <cstdlib>
#include <strings.h>

namespace gangway::apiclient {

namespace {

std::string TrimSpace(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

Status UnexpectedResponse(const http::Response& response) {
  return Status(Code::kInternal, "Unexpected response code: " + std::to_string(response.status) +
                                     " (" + TrimSpace(response.body) + ")");
}

Result<Json> JsonBody(const http::Response& response) {
  if (response.status != 200) {
    std::string body = response.body;
    while (!body.empty() && body.back() == '\n') body.pop_back();
    return Unavailable("Unexpected response code: " + std::to_string(response.status) + " (" +
                       body + ")");
  }
  Json j = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Internal("malformed JSON in a response from a server");
  return j;
}

uint64_t IndexOf(const http::Response& response) {
  for (const auto& [k, v] : response.headers) {
    if (strcasecmp(k.c_str(), "X-Consul-Index") == 0) return std::strtoull(v.c_str(), nullptr, 10);
  }
  return 0;
}

std::string JsonString(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t JsonInt(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) return static_cast<int64_t>(it->get<double>());
  return 0;
}

bool JsonBool(const Json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

const Json& JsonObject(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

std::string JoinMap(const Json& map, const std::string& sep) {
  if (!map.is_object()) return "";
  std::string out;
  // nlohmann's object is a std::map: keys come out sorted.
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!out.empty()) out += sep;
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

}  // namespace gangway::apiclient
