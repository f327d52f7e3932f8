#include "core/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gangway::core {
namespace {

// /proc/<pid>/pagemap: one 64-bit entry per page; bit 63 present, bit 62 swapped out (only a
// private copy can be), bit 61 file page or shared anonymous (clear for a private copy). Flag
// bits are readable without privileges.
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kSwapped = uint64_t{1} << 62;
constexpr uint64_t kFileOrShared = uint64_t{1} << 61;

struct Mapping {
  uintptr_t start = 0;
  uintptr_t end = 0;
};

// Private, read-only, file-backed mappings of /proc/self/maps.
std::vector<Mapping> ReadOnlyFileMappings() {
  std::vector<Mapping> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, path;
    unsigned long inode = 0;
    if (!(in >> range >> perms >> offset >> dev >> inode)) continue;
    in >> path;
    if (perms.size() != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p') continue;
    if (inode == 0 || path.empty() || path[0] != '/') continue;
    size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    Mapping m;
    m.start = static_cast<uintptr_t>(std::stoull(range.substr(0, dash), nullptr, 16));
    m.end = static_cast<uintptr_t>(std::stoull(range.substr(dash + 1), nullptr, 16));
    if (m.end > m.start) out.push_back(m);
  }
  return out;
}

}  // namespace

ReleasedPages ReleaseUnmodifiedFilePages() {
  ReleasedPages released;
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return released;
  const auto page = static_cast<uintptr_t>(page_size);
  int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return released;
  std::vector<uint64_t> entries;
  for (const Mapping& m : ReadOnlyFileMappings()) {
    size_t pages = (m.end - m.start) / page;
    entries.resize(pages);
    auto want = static_cast<ssize_t>(pages * sizeof(uint64_t));
    auto at = static_cast<off_t>(m.start / page * sizeof(uint64_t));
    if (::pread(pagemap, entries.data(), static_cast<size_t>(want), at) != want) continue;
    // Dropped in runs of pages none of which is a private copy; a private copy stays, and so
    // does the change in it.
    bool any = false;
    size_t run = 0;  // first page of the current run
    size_t run_present = 0;
    auto drop = [&](size_t end) {
      if (run_present > 0 &&
          ::madvise(reinterpret_cast<void*>(m.start + run * page), (end - run) * page,
                    MADV_DONTNEED) == 0) {
        released.bytes += run_present * page;
        any = true;
      }
    };
    for (size_t i = 0; i < pages; ++i) {
      uint64_t e = entries[i];
      bool private_copy = (e & kSwapped) || ((e & kPresent) && !(e & kFileOrShared));
      if (private_copy) {
        drop(i);
        run = i + 1;
        run_present = 0;
      } else if (e & kPresent) {
        ++run_present;
      }
    }
    drop(pages);
    if (any) ++released.mappings;
  }
  ::close(pagemap);
  return released;
}

}  // namespace gangway::core
