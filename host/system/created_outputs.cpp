#include "taylorscope/created_outputs.hpp"

#include <filesystem>

namespace taylorscope {

namespace fs = std::filesystem;

void CreatedOutputs::file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) files_.push_back(path);
}

void CreatedOutputs::directory(const std::string& dir) {
  std::error_code ec;
  Watched w{dir, {}};
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    w.before.insert(it->path().filename().string());
  watched_.push_back(std::move(w));
  std::vector<std::string> missing;  // DIR first, then its missing ancestors
  for (fs::path p = fs::absolute(dir, ec); !p.empty() && !fs::exists(fs::symlink_status(p, ec)); p = p.parent_path()) {
    missing.push_back(p.string());
    if (p == p.root_path()) break;
  }
  // Ancestors first, so the reverse order of dirs_ is deepest first.
  dirs_.insert(dirs_.end(), missing.rbegin(), missing.rend());
}

CreatedOutputs::~CreatedOutputs() {
  if (kept_) return;
  std::error_code ec;
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) fs::remove(*it, ec);
  for (auto w = watched_.rbegin(); w != watched_.rend(); ++w) {
    std::vector<fs::path> added;  // collected first: removing while iterating is unspecified
    for (fs::directory_iterator it(w->dir, ec), end; !ec && it != end; it.increment(ec))
      if (!it->is_directory(ec) && !w->before.count(it->path().filename().string())) added.push_back(it->path());
    for (const fs::path& p : added) fs::remove(p, ec);
  }
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) fs::remove(*it, ec);  // fails, harmlessly, if not empty
}

}  // namespace taylorscope
