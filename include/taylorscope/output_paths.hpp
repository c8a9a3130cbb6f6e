// Output paths are checked before any computation, so a typo in --report or
// a read-only --out costs a second, not the whole run (exit 2, one line).
// Creating nothing: these only look. Under mpirun only rank 0 looks, since
// only rank 0 writes: another rank, maybe on another machine without the
// same file system, would otherwise refuse a run rank 0 can write.
#pragma once

#include <string>

namespace taylorscope {

// A file the command will write (atomically, beside itself): it must not be
// a directory, and its parent directory must exist and be writable.
// Throws InputError "FLAG PATH: why".
void check_output_file(const std::string& path, const std::string& flag);

// A directory the command will create or write into: if it exists it must be
// a writable directory; otherwise its nearest existing ancestor must be.
// Throws InputError "FLAG PATH: why".
void check_output_dir(const std::string& path, const std::string& flag);

}  // namespace taylorscope
