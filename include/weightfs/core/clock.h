// Wall-clock time as weightfs records it (nanoseconds since the Unix epoch) and its UTC text
// forms. Thread-safe free functions.
#pragma once

#include <cstdint>
#include <string>

namespace weightfs {

// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
int64_t NowNs();

// ns formatted with strftime's format in UTC, e.g. "%Y-%m-%d %H:%M:%S".
std::string FormatUtc(int64_t ns, const char* format);

}  // namespace weightfs
