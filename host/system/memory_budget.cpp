#include "taylorscope/memory_budget.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "taylorscope/errors.hpp"

namespace taylorscope {
namespace {

double meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  // No /proc: the physical pages not in use.
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), size = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<double>(pages) * static_cast<double>(size)
                               : std::numeric_limits<double>::infinity();
}

double read_number_file(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return end && *end == '\0' ? v : std::numeric_limits<double>::infinity();
}

double cgroup_available() {
  const double limit = read_number_file("/sys/fs/cgroup/memory.max");
  if (!std::isfinite(limit)) return limit;
  const double used = read_number_file("/sys/fs/cgroup/memory.current");
  return std::isfinite(used) ? std::max(0.0, limit - used) : limit;
}

// ulimit -v (RLIMIT_AS) caps address space, which MemAvailable does not see:
// what is left of it, after what this process has mapped, bounds any new
// allocation.
double address_space_left() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return std::numeric_limits<double>::infinity();
  std::ifstream statm("/proc/self/statm");
  double pages = 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (!(statm >> pages) || page <= 0) return static_cast<double>(limit.rlim_cur);
  return std::max(0.0, static_cast<double>(limit.rlim_cur) - pages * static_cast<double>(page));
}

// TAYLORSCOPE_MAX_MEMORY: a cap the user sets (a shared machine, a job's share).
double user_cap() {
  const char* text = std::getenv("TAYLORSCOPE_MAX_MEMORY");
  if (!text || !*text) return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  double v = std::strtod(text, &end);
  const std::string suffix = end ? end : "";
  if (suffix == "K" || suffix == "k") v *= 1024.0;
  else if (suffix == "M" || suffix == "m") v *= 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g") v *= 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "t") v *= 1024.0 * 1024 * 1024 * 1024;
  else if (!suffix.empty()) v = std::nan("");
  if (!(v > 0) || !std::isfinite(v))
    throw InputError(std::string("TAYLORSCOPE_MAX_MEMORY=") + text +
                     ": expected a positive number of bytes, optionally with K, M, G or T");
  return v;
}

}  // namespace

double available_memory_bytes() {
  return std::min({meminfo_available(), cgroup_available(), address_space_left(), user_cap()});
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) bytes /= 1024.0, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, bytes < 100 && u > 0 ? "%.1f %s" : "%.0f %s", bytes, units[u]);  // 3 figures
  return buf;
}

void check_memory(double bytes, const std::string& what) {
  const double available = available_memory_bytes();
  if (!(bytes <= available))
    throw InputError(what + " needs " + format_bytes(bytes) + " of memory, more than the " +
                     format_bytes(available) + " available");
}

}  // namespace taylorscope
