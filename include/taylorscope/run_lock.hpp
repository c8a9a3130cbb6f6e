// One process per output directory. Two runs writing one directory would
// overwrite each other's files (or one would delete the other's in-flight
// temporaries), so every command that writes a directory holds this lock
// for the whole run; a second one is refused with the holder's pid.
#pragma once

#include <string>

namespace taylorscope {

class DirectoryLock {
 public:
  // The name of the lock file inside a locked directory.
  static constexpr const char* kFileName = ".taylorscope.lock";

  // Creates DIR (with its parents) if it does not exist, then takes an
  // exclusive flock(2) on DIR/.taylorscope.lock and writes this process's pid
  // into it. Throws InputError "DIR: in use by another taylorscope process
  // (pid N)" when another process holds it, or naming what failed.
  explicit DirectoryLock(const std::string& dir);
  // Releases the lock. The file stays. Should it be removed (a failed command
  // removes a directory it created, lock file included), a process that had
  // opened it sees that the path no longer names its file and opens anew, so
  // two processes never both hold the lock.
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int fd_ = -1;
};

}  // namespace taylorscope
