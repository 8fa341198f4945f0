#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

std::string Norm(std::string_view p) {
  Result<std::string> r = NormalizePath(p);
  return r.ok() ? *r : "ERROR: " + r.status().message();
}

bool Match(std::string_view pattern, std::string_view path) {
  Result<Pattern> p = Pattern::Parse(pattern);
  EXPECT_TRUE(p.ok()) << pattern << ": " << p.status().message();
  return p.ok() && p->Matches(path);
}

TEST(NormalizePathTest, Normalizes) {
  EXPECT_EQ(Norm("/"), "/");
  EXPECT_EQ(Norm("//"), "/");
  EXPECT_EQ(Norm("/a/b"), "/a/b");
  EXPECT_EQ(Norm("/a//b///c"), "/a/b/c");
  EXPECT_EQ(Norm("/a/./b/."), "/a/b");
  EXPECT_EQ(Norm("/a/b/../c"), "/a/c");
  EXPECT_EQ(Norm("/a/b/"), "/a/b");
  EXPECT_EQ(Norm("/.."), "/");
  EXPECT_EQ(Norm("/../../a"), "/a");
  EXPECT_EQ(Norm("/a/.."), "/");
  EXPECT_EQ(Norm("/public/../private/x"), "/private/x");
  EXPECT_EQ(Norm("/..."), "/...");  // only "." and ".." are special
  EXPECT_EQ(Norm("/a/..b/.c"), "/a/..b/.c");
  // Bytes, not characters: NFC and NFD stay different.
  EXPECT_EQ(Norm("/caf\xC3\xA9/"), "/caf\xC3\xA9");
  EXPECT_NE(Norm("/caf\xC3\xA9"), Norm("/cafe\xCC\x81"));
}

TEST(NormalizePathTest, Rejects) {
  for (std::string_view bad : {std::string_view(""), std::string_view("a/b"),
                               std::string_view("./a"), std::string_view("/a\0b", 4)}) {
    Result<std::string> r = NormalizePath(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST(PatternTest, RejectsBadPatterns) {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("public/**"), std::string_view("**"),
        std::string_view("//"), std::string_view("/a//b"), std::string_view("/a/"),
        std::string_view("/public/**/"), std::string_view("/a/./b"), std::string_view("/a/../b"),
        std::string_view("/.."), std::string_view("/a**"), std::string_view("/**b"),
        std::string_view("/a/***"), std::string_view("/x/a**b"), std::string_view("/a\0", 3)}) {
    Result<Pattern> p = Pattern::Parse(bad);
    ASSERT_FALSE(p.ok()) << "accepted " << bad;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  }
  EXPECT_TRUE(Pattern::Parse("/").ok());
  EXPECT_EQ(Pattern::Parse("/a*b*c")->text(), "/a*b*c");
}

TEST(PatternTest, RootPattern) {
  EXPECT_TRUE(Match("/", "/"));
  EXPECT_FALSE(Match("/", "/a"));
}

TEST(PatternTest, GlobstarMatchesWholeSegments) {
  EXPECT_TRUE(Match("/**", "/"));
  EXPECT_TRUE(Match("/**", "/a/b/c"));
  EXPECT_TRUE(Match("/public/**", "/public"));
  EXPECT_TRUE(Match("/public/**", "/public/a"));
  EXPECT_TRUE(Match("/public/**", "/public/a/b"));
  EXPECT_FALSE(Match("/public/**", "/publicity"));
  EXPECT_FALSE(Match("/public/**", "/"));
  EXPECT_TRUE(Match("/**/x", "/x"));
  EXPECT_TRUE(Match("/**/x", "/a/b/x"));
  EXPECT_FALSE(Match("/**/x", "/a/b/x/y"));
  EXPECT_FALSE(Match("/**/x", "/a/bx"));
  EXPECT_TRUE(Match("/a/**/b/**/c", "/a/b/c"));
  EXPECT_TRUE(Match("/a/**/b/**/c", "/a/1/2/b/3/c"));
  EXPECT_FALSE(Match("/a/**/b/**/c", "/a/1/2/3/c"));
}

TEST(PatternTest, StarStaysInOneSegment) {
  EXPECT_TRUE(Match("/*", "/a"));
  EXPECT_FALSE(Match("/*", "/"));
  EXPECT_FALSE(Match("/*", "/a/b"));
  EXPECT_TRUE(Match("/models/llama*", "/models/llama-7b"));
  EXPECT_TRUE(Match("/models/llama*", "/models/llama"));
  EXPECT_FALSE(Match("/models/llama*", "/models/llama-7b/x"));
  EXPECT_FALSE(Match("/models/llama*", "/models/alpaca"));
  EXPECT_TRUE(Match("/*.safetensors", "/m.safetensors"));
  EXPECT_FALSE(Match("/*.safetensors", "/m.safetensors.tmp"));
  EXPECT_TRUE(Match("/a*b*c", "/abc"));
  EXPECT_TRUE(Match("/a*b*c", "/axxbyybzc"));
  EXPECT_FALSE(Match("/a*b*c", "/axxbyy"));
  EXPECT_FALSE(Match("/a*b*c", "/xabc"));
  EXPECT_TRUE(Match("/*/*", "/a/b"));
  EXPECT_FALSE(Match("/*/*", "/a"));
}

TEST(PatternTest, OtherGlobCharactersAreLiteral) {
  EXPECT_TRUE(Match("/a?", "/a?"));
  EXPECT_FALSE(Match("/a?", "/ab"));
  EXPECT_TRUE(Match("/[ab]", "/[ab]"));
  EXPECT_FALSE(Match("/[ab]", "/a"));
  EXPECT_TRUE(Match("/caf\xC3\xA9", "/caf\xC3\xA9"));
  EXPECT_FALSE(Match("/caf\xC3\xA9", "/cafe\xCC\x81"));
}

TEST(PatternTest, PathologicalPatternsStayFast) {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "/a";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(Match("/**/**/**/**/x", deep));
  EXPECT_TRUE(Match("/**/**/**/**/x", deep + "/x"));
  EXPECT_FALSE(Match("/**/a/**/a/**/a/**/b", deep));
  std::string long_name = "/" + std::string(5000, 'a');
  EXPECT_FALSE(Match("/*a*a*a*a*a*a*a*a*b", long_name));
  // Exponential backtracking would take hours here; the DP takes milliseconds. The bound is
  // generous so a loaded machine does not fail it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(CapabilityTest, NamesRoundTrip) {
  for (int i = 0; i < kCapabilityCount; ++i) {
    auto c = static_cast<Capability>(i);
    EXPECT_EQ(ParseCapability(CapabilityName(c)), c);
  }
  EXPECT_STREQ(CapabilityName(Capability::kSnapshot), "snapshot");
  EXPECT_EQ(ParseCapability("all"), std::nullopt);
  EXPECT_EQ(ParseCapability("Read"), std::nullopt);
  EXPECT_EQ(ParseCapability(""), std::nullopt);
}

}  // namespace
}  // namespace weightfs::policy
