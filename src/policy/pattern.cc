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

bool IsGlobstar(const std::string& seg) { return seg == "**"; }

// Whether some name matches both segment globs a and b. A literal (no '*') names itself: it
// intersects the other exactly when the other matches it (Parse refuses "." and "..", so it is a
// valid name). Two globs with a '*' each, a = a0*...*ak and b = b0*...*bl, intersect exactly when
// one of a0, b0 is a prefix of the other and one of ak, bl a suffix of the other: the name
// longer(a0, b0) + a1..a(k-1) + b1..b(l-1) + "x" + longer(ak, bl) matches both (each side's stars
// swallow the other side's middle parts), and it is never "." or "..". Conversely a common name
// starts with a0 and b0 and ends with ak and bl. So no search over characters is needed.
bool SegmentsIntersect(const std::string& a, const std::string& b) {
  const size_t a_star = a.find('*'), b_star = b.find('*');
  if (a_star == std::string::npos) return SegmentMatches(b, a);
  if (b_star == std::string::npos) return SegmentMatches(a, b);
  std::string_view a_head(a.data(), a_star), b_head(b.data(), b_star);
  std::string_view a_tail = std::string_view(a).substr(a.rfind('*') + 1);
  std::string_view b_tail = std::string_view(b).substr(b.rfind('*') + 1);
  const bool heads = a_head.starts_with(b_head) || b_head.starts_with(a_head);
  const bool tails = a_tail.ends_with(b_tail) || b_tail.ends_with(a_tail);
  return heads && tails;
}

// Whether every name matching segment glob b matches segment glob a (conservative, see
// Pattern::Contains).
bool SegmentContains(const std::string& a, const std::string& b) {
  if (a == "*" || a == b) return true;
  return b.find('*') == std::string::npos && SegmentMatches(a, b);
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

// A product of the two segment automata, filled from the end like Matches: both(i, j) says whether
// some segment sequence matches segments_[i, m) and other.segments_[j, n). From (i, j) a path can
// let a "**" of either side match nothing, or take one segment that both current segments accept:
// a "**" accepts anything (and stays), a glob accepts the names it matches (and moves on).
bool Pattern::Overlaps(const Pattern& other) const {
  const std::vector<std::string>& a = segments_;
  const std::vector<std::string>& b = other.segments_;
  const size_t m = a.size(), n = b.size();
  // One row per segment of this, as in Matches: next is row i + 1, cur row i.
  std::vector<uint8_t> next(n + 1, 0), cur(n + 1, 0);
  for (size_t i = m + 1; i-- > 0;) {
    for (size_t j = n + 1; j-- > 0;) {
      const bool a_star = i < m && IsGlobstar(a[i]), b_star = j < n && IsGlobstar(b[j]);
      bool v = i == m && j == n;
      if (!v && a_star) v = next[j] || (j < n && cur[j + 1]);
      if (!v && b_star) v = (j < n && cur[j + 1]) || (i < m && next[j]);
      if (!v && i < m && j < n && !a_star && !b_star) {
        v = next[j + 1] && SegmentsIntersect(a[i], b[j]);
      }
      cur[j] = v ? 1 : 0;
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

bool Pattern::Contains(const Pattern& other) const {
  const std::vector<std::string>& a = segments_;
  const std::vector<std::string>& b = other.segments_;
  const size_t m = a.size(), n = b.size();
  // holds(i, j): segments_[i, m) hold other.segments_[j, n). Row m holds only the empty rest.
  std::vector<uint8_t> next(n + 1, 0), cur(n + 1, 0);
  next[n] = 1;
  for (size_t i = m; i-- > 0;) {
    if (IsGlobstar(a[i])) {
      // Some k >= j with holds(i + 1, k): "**" takes other's segments [j, k), whatever they are.
      bool any = false;
      for (size_t j = n + 1; j-- > 0;) {
        any = any || next[j] != 0;
        cur[j] = any ? 1 : 0;
      }
    } else {
      for (size_t j = n + 1; j-- > 0;) {
        cur[j] = j < n && !IsGlobstar(b[j]) && next[j + 1] && SegmentContains(a[i], b[j]) ? 1 : 0;
      }
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

}  // namespace weightfs::policy
