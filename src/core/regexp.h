// Regular expressions that come from outside (users, HTTP queries, gossip peers): Go's regexp
// syntax, as Consul's filters are Go regexps, matched by RE2 in time linear in the subject.
// Immutable once compiled; const methods may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace gangway {

class Regexp {
 public:
  // Compiles `pattern`. A bad pattern gives InvalidArgument worded as Go's regexp.Compile error,
  // e.g. "error parsing regexp: missing closing ]: `[a`"; so does one whose program would not
  // fit a 1 MiB budget ("expression too large"). Matching costs at most the subject's length
  // times the program's size, so that budget also bounds the cost per subject byte.
  static Result<Regexp> Compile(std::string_view pattern);

  Regexp(Regexp&&) noexcept;
  Regexp& operator=(Regexp&&) noexcept;
  ~Regexp();

  // Go's MatchString: whether the pattern matches anywhere in `text` (an unanchored search).
  bool Search(std::string_view text) const;
  // Go's FindStringSubmatch: the leftmost match and its groups ([0] the whole match; a group
  // that took no part is ""); false (and no groups) when there is none.
  bool FindSubmatch(std::string_view text, std::vector<std::string>* groups) const;
  const std::string& pattern() const;

 private:
  explicit Regexp(std::unique_ptr<re2::RE2> re);
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace gangway
