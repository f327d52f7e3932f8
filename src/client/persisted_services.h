// Services registered through the agent's API outlive an agent restart, as Consul keeps them in
// data_dir/services: one JSON file per service (the API body and the ACL token it was registered
// with), written when it is registered and removed when it is deregistered. Not used by -dev
// agents.
// Loop thread only (plain file I/O; the files are small).
#pragma once

#include <string>
#include <vector>

#include "catalog/service_definition.h"
#include "core/status.h"

namespace gangway::client {

class PersistedServices {
 public:
  // `dir` is created when the first service is saved.
  explicit PersistedServices(std::string dir);

  // Writes the API body service `id` was registered with and the ACL token it was registered
  // with (replacing an earlier one of the same ID), atomically, readable by the owner only.
  Status Save(const std::string& id, const catalog::Json& api_body, const std::string& token);
  // Forgets the service; no error when it was not saved.
  void Remove(const std::string& id);
  // Every saved registration. A file that cannot be read or decoded is skipped and named in
  // `errors` (it is kept for the operator to look at).
  std::vector<catalog::ServiceRegistration> Load(std::vector<std::string>* errors) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string PathOf(const std::string& id) const;

  std::string dir_;
};

}  // namespace gangway::client
