#include "weightfs/core/byte_size.h"

#include <gtest/gtest.h>

#include <string>

namespace weightfs {
namespace {

TEST(ParseByteSizeTest, NumbersAndUnits) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"0", 0},
      {"4096", 4096},
      {"12B", 12},
      {"1k", 1024},
      {"1K", 1024},
      {"1KiB", 1024},
      {"1kb", 1024},
      {"512M", 512ULL << 20},
      {"512MiB", 512ULL << 20},
      {"4G", 4ULL << 30},
      {"4GiB", 4ULL << 30},
      {"4gb", 4ULL << 30},
      {"4Gi", 4ULL << 30},
      {"2T", 2ULL << 40},
      {"18446744073709551615", 18446744073709551615ULL},
      {"16777215T", 16777215ULL << 40},
  };
  for (const auto& [text, want] : cases) {
    auto got = ParseByteSize(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status().ToString();
    EXPECT_EQ(*got, want) << text;
  }
}

TEST(ParseByteSizeTest, BadInputSaysWhatIsAccepted) {
  for (const char* text : {"", "G", "-1", "1.5G", "4X", "4 G", "4GiBB", "1P",
                           "18446744073709551616", "16777216T", " 4G"}) {
    auto got = ParseByteSize(text);
    ASSERT_FALSE(got.ok()) << text;
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << text;
    EXPECT_NE(got.status().message().find(std::string("\"") + text + "\""), std::string::npos)
        << got.status().message();
    EXPECT_NE(got.status().message().find("512M or 4G"), std::string::npos);
  }
}

}  // namespace
}  // namespace weightfs
