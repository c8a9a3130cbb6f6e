// Nothing half-written on a crash: every output file is written to a
// temporary beside it and renamed into place (rename(2) is atomic within a
// file system), so a reader sees either the old file or the whole new one.
#pragma once

#include <string>
#include <vector>

namespace taylorscope {

// Throws std::runtime_error naming the path when the write or rename fails;
// the temporary is removed then. The temporary is PATH.tmp.<pid>.
void write_file_atomically(const std::string& path, const std::string& bytes);

// True when `filename` is the temporary write_file_atomically makes for a
// file called `name`: exactly NAME.tmp.<pid>, the pid in decimal digits.
bool is_temporary_of(const std::string& filename, const std::string& name);

// Removes the temporaries a killed writer left in DIR itself (not below it):
// DIR/NAME.tmp.<pid> for each NAME in `names`, regular files only, and only
// when process <pid> is gone (a live writer's temporary is in use). A
// user's file, even one named like ours with ".tmp." inside, is never
// touched. Call it only while holding DIR's DirectoryLock. Returns how many
// were removed.
int remove_stale_temporaries(const std::string& dir, const std::vector<std::string>& names);

}  // namespace taylorscope
