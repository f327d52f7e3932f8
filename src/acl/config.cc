#include "acl/config.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace gangway::acl {
namespace {

namespace fs = std::filesystem;

struct PersistedKey {
  const char* key;
  std::string Tokens::*field;
};

constexpr PersistedKey kPersistedKeys[] = {
    {"agent", &Tokens::agent},
    {"default", &Tokens::default_token},
    {"agent_recovery", &Tokens::agent_recovery},
    {"replication", &Tokens::replication},
    {"config_file_service_registration", &Tokens::config_file_service_registration},
    {"dns", &Tokens::dns},
};

}  // namespace

Status LoadPersistedTokens(const std::string& path, Tokens* tokens, Tokens* persisted,
                                 std::vector<std::string>* warnings) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Ok();
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return Internal("failed reading tokens file \"" + path + "\"");
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("failed to decode tokens file \"" + path +
                                 "\": expected a JSON object of token names to secrets");
  }
  Tokens read;
  for (const auto& [key, value] : doc.items()) {
    if (!value.is_string()) {
      return InvalidArgument("failed to decode tokens file \"" + path + "\": \"" + key +
                                   "\" must be a string");
    }
    std::string k = key == "agent_master" ? "agent_recovery" : key;
    for (const auto& p : kPersistedKeys) {
      if (k == p.key && (read.*p.field).empty()) read.*p.field = value.get<std::string>();
    }
  }
  for (const auto& p : kPersistedKeys) {
    const std::string& value = read.*p.field;
    if (value.empty()) continue;
    if (!(tokens->*p.field).empty()) {
      warnings->push_back(std::string("\"") + p.key +
                          "\" token present in both the configuration and persisted token "
                          "store, using the persisted token");
    }
    tokens->*p.field = value;
    persisted->*p.field = value;
  }
  return Status::Ok();
}

Status SavePersistedTokens(const std::string& path, const Tokens& persisted) {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& p : kPersistedKeys) {
    if (!(persisted.*p.field).empty()) doc[p.key] = persisted.*p.field;
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Internal("Failed to persist tokens - cannot write " + tmp);
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
    out << doc.dump();
    if (!out) return Internal("Failed to persist tokens - cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return Internal("Failed to persist tokens - " + ec.message());
  return Status::Ok();
}

const char* DownPolicyName(DownPolicy p) {
  switch (p) {
    case DownPolicy::kExtendCache:
      return "extend-cache";
    case DownPolicy::kAsyncCache:
      return "async-cache";
    case DownPolicy::kAllow:
      return "allow";
    case DownPolicy::kDeny:
      return "deny";
  }
  return "extend-cache";
}

}  // namespace gangway::acl
