#include "taylorscope/output_paths.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

// access(2) answers for this process's credentials and also says EROFS on a
// read-only file system, which the permission bits would not show.
void require_writable_dir(const fs::path& dir, const std::string& flag, const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(flag + " " + path + ": " + dir.string() + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError(flag + " " + path + ": cannot write in " + dir.string() + ": " + std::strerror(errno));
}

fs::path parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

}  // namespace

void check_output_file(const std::string& path, const std::string& flag) {
  if (path.empty()) throw InputError(flag + ": empty path");
  if (!world().is_root()) return;  // see output_paths.hpp: rank 0 writes, rank 0 looks
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(flag + " " + path + ": is a directory");
  const fs::path parent = parent_of(path);
  if (!fs::exists(parent, ec))
    throw InputError(flag + " " + path + ": directory " + parent.string() + " does not exist");
  require_writable_dir(parent, flag, path);
}

void check_output_dir(const std::string& path, const std::string& flag) {
  if (path.empty()) throw InputError(flag + ": empty path");
  if (!world().is_root()) return;
  std::error_code ec;
  fs::path p(path);
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec)) throw InputError(flag + " " + path + ": exists and is not a directory");
    require_writable_dir(p, flag, path);
    return;
  }
  // The nearest ancestor that exists decides whether the directories can be made.
  fs::path ancestor = fs::absolute(p, ec).parent_path();
  while (!ancestor.empty() && !fs::exists(ancestor, ec) && ancestor != ancestor.root_path())
    ancestor = ancestor.parent_path();
  if (!fs::is_directory(ancestor, ec))
    throw InputError(flag + " " + path + ": " + ancestor.string() + " exists and is not a directory");
  require_writable_dir(ancestor, flag, path);
}

}  // namespace taylorscope
