// Large allocations are estimated and refused up front with one line, rather
// than failing in operator new (exit 1, "std::bad_alloc") or, with
// overcommit, filling the machine's memory. A typo in --hidden should cost
// nothing.
#pragma once

#include <string>

namespace taylorscope {

// Bytes this process may still allocate: the smallest of MemAvailable
// (/proc/meminfo), the cgroup v2 limit left (memory.max − memory.current),
// the address space left under ulimit -v (RLIMIT_AS), and
// TAYLORSCOPE_MAX_MEMORY (bytes, or with a K/M/G/T suffix) when set.
double available_memory_bytes();

// Throws InputError "WHAT needs X GiB of memory, more than the Y GiB
// available" when bytes exceeds available_memory_bytes().
void check_memory(double bytes, const std::string& what);

// "1.5 GiB", "340 MiB", "12 KiB": sizes as a person reads them.
std::string format_bytes(double bytes);

}  // namespace taylorscope
