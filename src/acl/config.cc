#include "acl/config.h"

namespace gangway::acl {

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
