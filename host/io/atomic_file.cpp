#include "taylorscope/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace taylorscope {

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
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

}  // namespace taylorscope
