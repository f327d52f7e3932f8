#include "cli/api_client.h"

namespace gangway::cli {

Result<ApiClient> NewApiClient(const HttpFlags& flags, const Environment& env) {
  return ApiClient::Create(flags, env.getenv, env.transport);
}

}  // namespace gangway::cli
