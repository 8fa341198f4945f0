#include "weightfs/core/clock.h"

#include <gtest/gtest.h>

namespace weightfs {
namespace {

TEST(ClockTest, FormatUtcKnownInstants) {
  EXPECT_EQ(FormatUtc(0, "%Y-%m-%d %H:%M:%S"), "1970-01-01 00:00:00");
  // 2026-11-29 13:05:01.999 UTC: the fraction never rounds the second up.
  EXPECT_EQ(FormatUtc(1795957501999000000, "%Y-%m-%dT%H%M%SZ"), "2026-11-29T130501Z");
  // Before 1970 the second is floored, not truncated toward zero.
  EXPECT_EQ(FormatUtc(-1, "%Y-%m-%d %H:%M:%S"), "1969-12-31 23:59:59");
}

TEST(ClockTest, NowIsWallClockNanoseconds) {
  const int64_t now = NowNs();
  EXPECT_GT(now, int64_t{1700000000} * 1000000000);  // after 2023
  EXPECT_LE(now, NowNs());
}

}  // namespace
}  // namespace weightfs
