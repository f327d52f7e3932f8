#include "client/persisted_services.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gangway::client {
namespace {

namespace fs = std::filesystem;

// File names from service IDs: hex, so any ID (slashes, dots, case) maps to one safe name.
std::string HexName(const std::string& id) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(id.size() * 2 + 5);
  for (unsigned char c : id) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out + ".json";
}

}  // namespace

PersistedServices::PersistedServices(std::string dir) : dir_(std::move(dir)) {}

std::string PersistedServices::PathOf(const std::string& id) const {
  return (fs::path(dir_) / HexName(id)).string();
}

Status PersistedServices::Save(const std::string& id, const catalog::Json& api_body,
                               const std::string& token) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Internal("creating " + dir_ + ": " + ec.message());
  std::string path = PathOf(id);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Internal("writing " + tmp + " failed");
    // Only the owner may read it: it holds an ACL token.
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
    catalog::Json file = {{"Token", token}, {"Service", api_body}};
    out << file.dump(2) << "\n";
    if (!out) return Internal("writing " + tmp + " failed");
  }
  fs::rename(tmp, path, ec);
  if (ec) return Internal("renaming " + tmp + ": " + ec.message());
  return Status::Ok();
}

void PersistedServices::Remove(const std::string& id) {
  std::error_code ec;
  fs::remove(PathOf(id), ec);
}

std::vector<catalog::ServiceRegistration> PersistedServices::Load(
    std::vector<std::string>* errors) const {
  std::vector<catalog::ServiceRegistration> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    catalog::Json body = catalog::Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      errors->push_back(file.string() + ": not JSON");
      continue;
    }
    // {"Token": ..., "Service": <API body>}; files written before tokens were kept hold the
    // API body alone (which never has a "Service" key).
    std::string token;
    if (body.is_object() && body.contains("Service") && body["Service"].is_object()) {
      if (auto t = body.find("Token"); t != body.end() && t->is_string()) token = *t;
      catalog::Json inner = std::move(body["Service"]);
      body = std::move(inner);
    }
    auto reg = catalog::DecodeServiceRegistration(body);
    if (!reg.ok()) {
      errors->push_back(file.string() + ": " + reg.status().message());
      continue;
    }
    reg->token = std::move(token);
    out.push_back(std::move(*reg));
  }
  return out;
}

}  // namespace gangway::client
