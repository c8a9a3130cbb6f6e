// Warnings go to stderr as lines of their own, "taylorscope: warning: …".
// They are held until the command has checked all its inputs (or is about to
// compute), so an input error is the one line a failing command prints.
#pragma once

#include <string>
#include <vector>

namespace taylorscope {

// Queues a warning (without the prefix and newline).
void warn(const std::string& message);

// Prints the queued warnings to stderr, each on its own line, and clears them.
void flush_warnings();

// Drops the queued warnings (a command that failed prints only its error).
void discard_warnings();

// The queued warnings, for a report that lists them.
std::vector<std::string> pending_warnings();

}  // namespace taylorscope
