// A command's outputs are committed together: a command that fails part way
// through writing them (the third of four files, a full disk) removes what it
// had written, so a failed command leaves nothing that looks like a result.
// Only what this run created is removed — never a file or directory that
// existed before it started (an existing file that was already replaced keeps
// the new content: its old bytes are gone with the atomic rename).
#pragma once

#include <set>
#include <string>
#include <vector>

namespace taylorscope {

class CreatedOutputs {
 public:
  CreatedOutputs() = default;
  // Unless keep() was called: removes the recorded files that did not exist
  // when recorded, then the recorded directories that did not exist, deepest
  // first and only when empty (another process's files are never touched).
  ~CreatedOutputs();
  CreatedOutputs(const CreatedOutputs&) = delete;
  CreatedOutputs& operator=(const CreatedOutputs&) = delete;

  // Call before writing PATH: it is removed on failure if it does not exist now.
  void file(const std::string& path);
  // Call before creating or writing into DIR, which the command writes while
  // holding its DirectoryLock (so no other taylorscope process adds to it):
  // on failure the files that were not in DIR now are removed, then DIR and
  // each ancestor that did not exist, if empty by then.
  void directory(const std::string& dir);
  // Everything was written: keep it.
  void keep() { kept_ = true; }

 private:
  struct Watched {
    std::string dir;
    std::set<std::string> before;  // the names DIR held when watched
  };
  std::vector<std::string> files_, dirs_;  // only those that did not exist yet
  std::vector<Watched> watched_;
  bool kept_ = false;
};

}  // namespace taylorscope
