// Scopes on a loaded policy: which scope a path is in, and which scope keys a role needs. The
// loader has already made the declared scopes disjoint, so the first matching pattern decides.
//
// The key analysis is pattern algebra, never a walk of paths: a rule reaches a declared scope
// when one of its patterns overlaps one of the scope's (Pattern::Overlaps, exact), and reaches
// default unless a single scope pattern holds it (Pattern::Contains, conservative). Both err
// toward "needs the key": a role missing a key it needs would find its data undecryptable, while
// a key it did not need only weakens what cryptography enforces, which the report says.

#include <algorithm>
#include <string>
#include <vector>

#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

// What takes a scope's keys: reading and writing. Listing and history alone do not: a slot
// lists (now and in .versions) the names its keys open (a guest that may list "/" to reach
// /public must not get the keys of the default scope, which "/" is in, or it could read all of
// it). snapshot and admin act on the repository, not on the paths their patterns name.
constexpr CapabilitySet kKeyCapabilities = Bit(Capability::kRead) | kWriteCapabilities;
constexpr CapabilitySet kReadOrList = Bit(Capability::kList) | Bit(Capability::kRead);

const std::string& DefaultScopeName() {
  static const std::string name(kDefaultScope);
  return name;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string CapsText(CapabilitySet caps) {
  std::vector<std::string> names;
  for (int i = 0; i < kCapabilityCount; ++i) {
    if ((caps & (CapabilitySet{1} << i)) != 0) {
      names.emplace_back(CapabilityName(static_cast<Capability>(i)));
    }
  }
  return Join(names);
}

// One scope as the analysis sees it: a declared one, or default (scope == nullptr), which is
// every path that no pattern of all matches.
class ScopeView {
 public:
  ScopeView(const Scope* scope, const std::vector<Scope>& all) : scope_(scope), all_(all) {}

  // Whether p may match a path of the scope.
  bool Reaches(const Pattern& p) const {
    if (scope_ != nullptr) {
      return std::any_of(scope_->patterns.begin(), scope_->patterns.end(),
                         [&](const Pattern& q) { return q.Overlaps(p); });
    }
    return std::none_of(all_.begin(), all_.end(), [&](const Scope& s) {
      return std::any_of(s.patterns.begin(), s.patterns.end(),
                         [&](const Pattern& q) { return q.Contains(p); });
    });
  }

  // Whether the patterns together match every path of the scope (conservative: each pattern of a
  // declared scope held by one of them; for default, one of them holding everything).
  bool CoveredBy(const std::vector<const Pattern*>& patterns) const {
    auto held = [&](const Pattern& q) {
      return std::any_of(patterns.begin(), patterns.end(),
                         [&](const Pattern* p) { return p->Contains(q); });
    };
    if (scope_ != nullptr) {
      return std::all_of(scope_->patterns.begin(), scope_->patterns.end(), held);
    }
    return held(*Pattern::Parse("/**"));
  }

 private:
  const Scope* scope_;
  const std::vector<Scope>& all_;
};

}  // namespace

std::vector<std::string> Policy::ScopeNames() const {
  std::vector<std::string> names;
  names.reserve(scopes_.size() + 1);
  for (const Scope& s : scopes_) names.push_back(s.name);
  names.push_back(DefaultScopeName());
  std::sort(names.begin(), names.end());
  return names;
}

const std::string& Policy::ScopeOf(std::string_view path) const {
  for (const Scope& s : scopes_) {
    for (const Pattern& p : s.patterns) {
      if (p.Matches(path)) return s.name;
    }
  }
  return DefaultScopeName();
}

std::vector<RoleScope> Policy::RoleScopes(const std::string& role) const {
  std::vector<RoleScope> out;
  if (!HasRole(role)) return out;
  for (const std::string& name : ScopeNames()) {
    auto declared = std::find_if(scopes_.begin(), scopes_.end(),
                                 [&](const Scope& s) { return s.name == name; });
    const ScopeView view(declared == scopes_.end() ? nullptr : &*declared, scopes_);
    RoleScope rs;
    rs.scope = name;
    CapabilitySet needed = 0;
    std::vector<const Pattern*> read_patterns;  // every allow-read pattern of the role
    std::vector<std::string> read_reaching;     // those that reach the scope
    std::vector<std::string> deny_reasons;      // deny rules for read or list reaching it
    for (const Rule& rule : rules_) {
      if (rule.role != role) continue;
      std::vector<std::string> reaching;
      for (const Pattern& p : rule.paths) {
        if (view.Reaches(p)) reaching.push_back(p.text());
      }
      if (rule.deny) {
        if ((rule.caps & kReadOrList) != 0 && !reaching.empty()) {
          deny_reasons.push_back(rule.Label() + " denies " + CapsText(rule.caps & kReadOrList) +
                                 " on " + Join(reaching) + " inside scope " + name +
                                 ": enforced by the daemon only, the key opens it");
        }
        continue;
      }
      if ((rule.caps & Bit(Capability::kRead)) != 0) {
        for (const Pattern& p : rule.paths) read_patterns.push_back(&p);
        read_reaching.insert(read_reaching.end(), reaching.begin(), reaching.end());
      }
      if ((rule.caps & kKeyCapabilities) != 0 && !reaching.empty()) {
        rs.because.push_back(&rule);
        needed |= rule.caps & kKeyCapabilities;
      } else if ((rule.caps & (Bit(Capability::kList) | Bit(Capability::kHistory))) != 0 &&
                 !reaching.empty()) {
        rs.lists_without_key = true;
      }
    }
    rs.needs_key = !rs.because.empty();
    if (rs.needs_key) rs.lists_without_key = false;
    const bool covered = view.CoveredBy(read_patterns);
    rs.readable_whole = covered && deny_reasons.empty();
    if (rs.needs_key) {
      rs.daemon_only = std::move(deny_reasons);
      if (!covered && !read_reaching.empty()) {
        rs.daemon_only.push_back("its allow rules cover only part of scope " + name + " (" +
                                 Join(read_reaching) + "); the rest of " + name +
                                 " is denied by the daemon only");
      } else if (!covered) {
        const std::string what = (needed & ~kWriteCapabilities) == 0 ? "write" : CapsText(needed);
        rs.daemon_only.push_back("may " + what + " in scope " + name +
                                 " but not read it: holding the key to " + what +
                                 " lets it decrypt " + name + ", which the daemon alone refuses");
      }
    }
    out.push_back(std::move(rs));
  }
  return out;
}

}  // namespace weightfs::policy
