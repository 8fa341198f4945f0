#include "weightfs/core/clock.h"

#include <chrono>
#include <ctime>

namespace weightfs {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatUtc(int64_t ns, const char* format) {
  // Floor division, so times before 1970 land in the right second.
  int64_t secs = ns / 1000000000;
  if (ns % 1000000000 < 0) --secs;
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof(buf), format, &tm);
  return std::string(buf, n);
}

}  // namespace weightfs
