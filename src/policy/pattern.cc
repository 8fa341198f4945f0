// Paths and path patterns: the normalization the daemon applies before asking the policy, and
// the segment matcher behind Pattern. Names are compared as bytes.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

constexpr std::array<const char*, kCapabilityCount> kCapabilityNames = {
    "list", "read", "create", "update", "delete", "history", "snapshot", "admin"};

// Splits "/a/b" into {"a", "b"}; "/" gives no segments. Empty segments are kept, so a caller can
// tell "//" apart.
std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.size() <= 1) return out;
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// Glob match of one segment where '*' is the only special character. The classic
// "remember the last star" loop: O(len(pattern) * len(name)) in the worst case, no recursion.
bool SegmentMatches(std::string_view pat, std::string_view name) {
  size_t p = 0, n = 0;
  size_t star = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pat.size() && pat[p] != '*' && pat[p] == name[n]) {
      ++p;
      ++n;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      star_n = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace

const char* CapabilityName(Capability c) {
  auto i = static_cast<size_t>(c);
  return i < kCapabilityNames.size() ? kCapabilityNames[i] : "?";
}

std::optional<Capability> ParseCapability(std::string_view name) {
  for (size_t i = 0; i < kCapabilityNames.size(); ++i) {
    if (name == kCapabilityNames[i]) return static_cast<Capability>(i);
  }
  return std::nullopt;
}

// Names are bytes: no Unicode normalization, so "café" in NFC and in NFD are two different names,
// exactly as the kernel and the repository see them. A rule written in one form does not cover
// the other.
Result<std::string> NormalizePath(std::string_view path) {
  if (path.empty() || path[0] != '/') {
    return InvalidArgument("path \"" + std::string(path) +
                           "\" is not absolute (must start with /)");
  }
  if (path.find('\0') != std::string_view::npos) {
    return InvalidArgument("path contains a NUL byte");
  }
  std::vector<std::string_view> kept;
  for (std::string_view seg : Split(path)) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();  // ".." at the root stays at the root
      continue;
    }
    kept.push_back(seg);
  }
  if (kept.empty()) return std::string("/");
  std::string out;
  for (std::string_view seg : kept) {
    out += '/';
    out += seg;
  }
  return out;
}

Result<Pattern> Pattern::Parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("bad path pattern \"" + std::string(text) + "\": " + why);
  };
  if (text.empty())
    return InvalidArgument(R"(empty path pattern (use "/" for the root, "/**" for everything))");
  if (text.find('\0') != std::string_view::npos) return bad("it contains a NUL byte");
  if (text[0] != '/') return bad("patterns are anchored at the mount root and must start with /");
  Pattern p;
  p.text_ = std::string(text);
  if (text == "/") return p;
  if (text.find("//") != std::string_view::npos) return bad("empty segment (\"//\")");
  if (text.back() == '/')
    return bad(
        "remove the trailing slash (\"/dir/**\" covers a directory and everything below it)");
  for (std::string_view seg : Split(text)) {
    if (seg == "." || seg == "..")
      return bad(R"("." and ".." segments are not allowed; write the normalized path)");
    if (seg.find("**") != std::string_view::npos && seg != "**") {
      return bad(R"("**" must be a whole segment ("/a/**"); use "*" to match within a segment)");
    }
    p.segments_.emplace_back(seg);
  }
  return p;
}

bool Pattern::Matches(std::string_view path) const {
  std::vector<std::string_view> names = Split(path);
  const size_t m = segments_.size(), n = names.size();
  // match(i, j): pattern segments [i, m) match path segments [j, n). Filled from the end, one
  // row per pattern segment, so many "**" cost O(m * n) segment comparisons, never exponential.
  std::vector<uint8_t> next(n + 1, 0), cur(n + 1, 0);
  next[n] = 1;  // row m: only the empty rest matches
  for (size_t i = m; i-- > 0;) {
    const std::string& seg = segments_[i];
    const bool globstar = seg == "**";
    for (size_t j = n + 1; j-- > 0;) {
      if (globstar) {
        cur[j] = next[j] || (j < n && cur[j + 1]);
      } else {
        cur[j] = j < n && next[j + 1] && SegmentMatches(seg, names[j]);
      }
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

}  // namespace weightfs::policy
