#include "taylorscope/atomic_file.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace taylorscope {
namespace {

constexpr const char* kTmpInfix = ".tmp.";

std::string temporary_path(const std::string& path) { return path + kTmpInfix + std::to_string(::getpid()); }

// The writer's pid of a temporary of `name`, or -1 when the file is not one.
long writer_pid(const std::string& filename, const std::string& name) {
  const std::string prefix = name + kTmpInfix;
  if (filename.size() <= prefix.size() || filename.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = filename.substr(prefix.size());
  if (digits.size() > 9) return -1;  // pids fit in 9 digits (pid_max ≤ 2^22)
  for (char ch : digits)
    if (ch < '0' || ch > '9') return -1;
  return std::stol(digits);
}

// kill(pid, 0) fails with ESRCH only when no such process exists; EPERM means
// one exists (another user's), so its temporary is left alone.
bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH); }

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = temporary_path(path);
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": " + what + ": " + reason);
  };
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot create temporary file");
  const bool wrote = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  // fflush + fsync before rename: otherwise a crash can leave the new name
  // pointing at a file whose data never reached the disk.
  const bool flushed = wrote && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  if (std::fclose(f) != 0 || !flushed) fail("write failed");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename temporary file into place");
}

bool is_temporary_of(const std::string& filename, const std::string& name) {
  return writer_pid(filename, name) >= 0;
}

int remove_stale_temporaries(const std::string& dir, const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    // symlink_status: a link named like a temporary is not ours to follow.
    if (!fs::is_regular_file(it->symlink_status(ec))) continue;
    const std::string filename = it->path().filename().string();
    for (const std::string& name : names) {
      const long pid = writer_pid(filename, name);
      if (pid < 0 || process_alive(pid)) continue;
      if (fs::remove(it->path(), ec)) ++removed;
      break;
    }
  }
  return removed;
}

}  // namespace taylorscope
