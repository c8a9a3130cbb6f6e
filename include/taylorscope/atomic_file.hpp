// Nothing half-written on a crash: every output file is written to a
// temporary beside it and renamed into place (rename(2) is atomic within a
// file system), so a reader sees either the old file or the whole new one.
#pragma once

#include <string>

namespace taylorscope {

// Throws std::runtime_error naming the path when the write or rename fails;
// the temporary is removed then.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace taylorscope
