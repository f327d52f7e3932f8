// A process's resident set, trimmed to what it uses.
#pragma once

#include <cstddef>

namespace gangway::core {

struct ReleasedPages {
  size_t mappings = 0;  // mappings whose pages were dropped
  size_t bytes = 0;     // resident bytes they had
};

// Drops this process's page-table entries for the pages of read-only file mappings that it has
// never modified: the code and constant data of the binary and its libraries. The pages stay in
// the page cache (shared with every other process of the binary), and the next access maps them
// again, so what stays resident is what the process has touched since. A page that is a private
// copy (relocated data behind RELRO, a debugger's breakpoint) stays, since dropping it would drop
// the change; the pages around it go. Linux; elsewhere, or when /proc is missing, nothing.
// Mappings are read from /proc/self/maps first and dropped after: no other thread may unmap a
// file mapping meanwhile (dlclose), or a new mapping at its address could lose its pages. The
// proxy process unloads no library while it runs.
ReleasedPages ReleaseUnmodifiedFilePages();

}  // namespace gangway::core
