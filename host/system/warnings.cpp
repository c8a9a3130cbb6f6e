#include "taylorscope/warnings.hpp"

#include <iostream>
#include <mutex>

#include "taylorscope/communicator.hpp"

namespace taylorscope {
namespace {

std::mutex& guard() {
  static std::mutex m;
  return m;
}
std::vector<std::string>& queue() {
  static std::vector<std::string> q;
  return q;
}

}  // namespace

void warn(const std::string& message) {
  std::lock_guard<std::mutex> lock(guard());
  queue().push_back(message);
}

void flush_warnings() {
  std::lock_guard<std::mutex> lock(guard());
  // Every rank of an mpirun job raises the same warnings; rank 0 says them.
  if (!world().is_root()) queue().clear();
  // Each line in one write, so that mpirun's forwarding of stderr cannot
  // split it.
  for (const std::string& m : queue()) {
    const std::string line = "taylorscope: warning: " + m + "\n";
    std::cerr.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
  std::cerr.flush();
  queue().clear();
}

void discard_warnings() {
  std::lock_guard<std::mutex> lock(guard());
  queue().clear();
}

std::vector<std::string> pending_warnings() {
  std::lock_guard<std::mutex> lock(guard());
  return queue();
}

}  // namespace taylorscope
