// Policy: who may do what where on a weightfs mount. Roles hold rules (path patterns and the
// capabilities they allow or deny), bindings give roles to OS users and groups, and a default
// role covers everybody else. Evaluation is AWS IAM's: every rule of the caller's roles that
// matches the path and the capability is collected; any deny wins; otherwise any allow;
// otherwise deny. Pure evaluation: no I/O except through a NameResolver.
//
// A loaded Policy is immutable and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weightfs/core/status.h"

namespace weightfs::policy {

enum class Capability : uint8_t {
  kList = 0,  // see a path: lookup, getattr, listing it in its parent, opendir/readdir
  kRead,      // open for reading, read, readlink, getxattr/listxattr
  kCreate,    // create, mkdir, symlink, the destination of a rename
  kUpdate,    // open for writing, truncate, setattr, setxattr/removexattr
  kDelete,    // unlink, rmdir, the source of a rename, a replaced rename destination
  kHistory,   // anything under .versions/ (with list/read for the path as it was)
  kSnapshot,  // record a snapshot of the mount
  kAdmin,     // change the repository's policy
};
inline constexpr int kCapabilityCount = 8;

// A set of capabilities, one bit per Capability.
using CapabilitySet = uint32_t;
inline constexpr CapabilitySet Bit(Capability c) { return CapabilitySet{1} << static_cast<int>(c); }
inline constexpr CapabilitySet kAllCapabilities = (CapabilitySet{1} << kCapabilityCount) - 1;
inline constexpr CapabilitySet kWriteCapabilities =
    Bit(Capability::kCreate) | Bit(Capability::kUpdate) | Bit(Capability::kDelete);

// "list", "read", ...; ParseCapability does not accept "all" (the loader expands it).
const char* CapabilityName(Capability c);
std::optional<Capability> ParseCapability(std::string_view name);

// Normalizes an absolute path for matching: collapses doubled slashes, drops "." segments,
// resolves ".." (never above the root) and trailing slashes. "/" is the mount root. A path that
// does not start with '/' or contains a NUL byte is kInvalidArgument.
Result<std::string> NormalizePath(std::string_view path);

// A path pattern, anchored at the mount root: "*" matches within one segment ("*" alone: any
// one segment; "a*b": a segment starting with a and ending with b), "**" as a whole segment
// matches zero or more whole segments. "/" alone is the root. Rejected when parsing: relative
// patterns, empty segments ("//"), "." or ".." segments, a trailing slash (except "/"), "**"
// mixed with other characters in a segment, NUL bytes.
class Pattern {
 public:
  static Result<Pattern> Parse(std::string_view text);
  // path must be normalized (NormalizePath).
  bool Matches(std::string_view path) const;
  // Whether some normalized path matches both this and other. Exact.
  bool Overlaps(const Pattern& other) const;
  // Whether every normalized path other matches, this matches too. Conservative: true is always
  // right, false may also mean "cannot tell" ("/**/*" holds "/*/**", and this answers false).
  // A "**" of this absorbs any run of other's segments; a segment of this holds one of other's
  // when it is "*", the same text, or a glob matching other's literal segment.
  bool Contains(const Pattern& other) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
};

struct Rule {
  std::string role;
  int index = 0;  // position in the role's rules list, from 0
  int line = 0;   // where it starts in the policy file (1-based; 0 for the built-in policy)
  std::vector<Pattern> paths;
  CapabilitySet caps = 0;
  bool deny = false;
  // "member rule 2 (line 12)": how decisions and the audit log name the rule.
  std::string Label() const;
};

// One binding: a role given to users and groups. Entries are names or numeric ids (all digits).
struct Binding {
  std::string role;
  std::vector<std::string> users;
  std::vector<std::string> groups;
  int line = 0;
};

// An OS caller as the kernel reports it.
struct Identity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups
};

// Looks up OS users and groups. The system one uses getpwnam_r/getgrnam_r/getpwuid_r; tests
// use a map.
class NameResolver {
 public:
  virtual ~NameResolver() = default;
  virtual std::optional<uint32_t> UserId(const std::string& name) const = 0;
  virtual std::optional<uint32_t> GroupId(const std::string& name) const = 0;
  virtual std::optional<std::string> UserName(uint32_t uid) const = 0;
};
const NameResolver& SystemResolver();

struct Decision {
  bool allowed = false;
  std::vector<const Rule*> allows;  // every matching allow rule, in file order
  std::vector<const Rule*> denies;  // every matching deny rule, in file order
  // The rule that decided: the first deny, else the first allow, else null (implicit deny).
  const Rule* deciding() const;
  // deciding()->Label(), or "no rule allows" for an implicit deny.
  std::string Reason() const;
};

// Why a caller has the roles it has (for `policy explain`).
struct RoleGrant {
  std::string role;
  std::string because;  // "user alice (line 20)", "group ml-team (line 22)", "default_role"
};

// Scopes: named sets of path patterns (YAML `scopes: {public: ["/public/**"]}`) that split the
// paths of a repository for encryption, each scope with its own keys. Every path belongs to
// exactly one scope (the loader refuses scopes whose patterns can match a common path); a path no
// scope pattern matches belongs to kDefaultScope, which a policy may not declare.
inline constexpr char kDefaultScope[] = "default";
inline constexpr int kMaxScopes = 63;  // declared ones; with default, 64
// Bounds on the scope patterns of one policy, which Load compares pairwise: a policy has a few.
inline constexpr size_t kMaxScopePatterns = 1024;
inline constexpr size_t kMaxScopePatternBytes = 16384;  // their texts together

struct Scope {
  std::string name;
  std::vector<Pattern> patterns;
  int line = 0;  // of its name in the policy file
};

// What a role needs and gets in one scope (Policy::RoleScopes).
struct RoleScope {
  std::string scope;
  // Some allow rule of the role grants read, create, update or delete on a path that may lie in
  // the scope, so a key slot of the role holds the scope's keys.
  bool needs_key = false;
  // The role may list (or browse history) there but needs no key: it sees only the names its
  // keys open (directories leading to scopes it holds), not the scope's own entries, whatever
  // the policy allows.
  bool lists_without_key = false;
  // The role may read every path of the scope: its allow rules cover the scope and no deny rule
  // for read or list reaches into it. A key for such a scope gives nothing the daemon refuses.
  bool readable_whole = false;
  std::vector<const Rule*> because;  // the allow rules that make it need the key, in file order
  // For a needed scope, why some paths of it are refused by the daemon only (the key opens them),
  // one sentence each: "member rule 3 (line 14) denies read on /team/hr/** inside scope team:
  // enforced by the daemon only, the key opens it".
  std::vector<std::string> daemon_only;
};

// The largest policy text Load accepts. A policy is a few KiB; the bound keeps a hostile file from
// costing memory and time (and so does refusing YAML aliases, see Load).
inline constexpr size_t kMaxPolicyBytes = 1 << 20;

class Policy {
 public:
  // Parses and validates YAML. source names the text in errors, which read
  // "SOURCE:LINE:COLUMN: message" (kInvalidArgument). Unknown keys, capabilities or roles,
  // bad patterns, a missing or unsupported version, a role bound twice to the same user or group,
  // bad scopes (a bad or reserved name, no patterns, more than kMaxScopes, patterns of two scopes
  // that can match a common path) and malformed YAML are errors. So are YAML aliases (`*name`,
  // which let a small text expand without bound) and a text longer than kMaxPolicyBytes.
  static Result<std::shared_ptr<const Policy>> Load(std::string_view yaml,
                                                    const std::string& source);
  // The policy of a repository without one: role "admin" may do everything, other roles nothing.
  static std::shared_ptr<const Policy> BuiltIn();

  // The YAML text it was loaded from (BuiltIn: an equivalent YAML text).
  const std::string& text() const { return text_; }
  bool built_in() const { return built_in_; }
  bool HasRole(const std::string& role) const;
  std::vector<std::string> RoleNames() const;  // sorted
  const std::vector<Binding>& bindings() const { return bindings_; }
  const std::optional<std::string>& default_role() const { return default_role_; }

  // Load-time warnings: user and group names the resolver does not know ("SOURCE:LINE:COLUMN:
  // warning: ...").
  std::vector<std::string> Warnings(const NameResolver& resolver) const;

  // The roles an OS caller has: every binding naming its uid (by id or resolved name), its gid or
  // a supplementary group; when none, default_role; when that is unset, none. Sorted, unique.
  std::vector<RoleGrant> RolesFor(const Identity& who, const NameResolver& resolver) const;

  // Decides cap on a normalized path for a caller holding roles (IAM evaluation over the rules of
  // all of them together). Unknown role names contribute no rules.
  Decision Decide(const std::vector<std::string>& roles, Capability cap,
                  std::string_view path) const;

  // Scopes in the order the policy declares them (none: every path is in kDefaultScope).
  bool has_scopes() const { return !scopes_.empty(); }
  const std::vector<Scope>& scopes() const { return scopes_; }
  // The declared names and kDefaultScope, sorted.
  std::vector<std::string> ScopeNames() const;
  // The scope of a normalized path: the declared scope one of whose patterns matches it, else
  // kDefaultScope.
  const std::string& ScopeOf(std::string_view path) const;
  // The keys role needs, scope by scope: one entry per ScopeNames() entry, in that order; empty for
  // a role the policy does not define. Conservative: when it cannot tell whether a rule reaches a
  // scope, the role needs that scope's key (and the report says the daemon alone limits it).
  std::vector<RoleScope> RoleScopes(const std::string& role) const;

  // True if some allow rule of role grants a capability in caps on some path (denies ignored):
  // a role for which MayEverAllow(role, kWriteCapabilities) is false can write nowhere.
  bool MayEverAllow(const std::string& role, CapabilitySet caps) const;

  // The role sets a caller of a shared mount can hold, summed up as the roles that make them:
  // every role named by a binding, and default_role. A caller matched by no binding holds
  // default_role, or nothing when it is unset (reachable_empty()). Sorted, unique.
  const std::vector<std::string>& reachable_roles() const { return reachable_roles_; }
  bool reachable_empty() const { return !default_role_.has_value(); }

  // Whether every capability in caps decides the same on a normalized path for every caller a
  // shared mount can have: each role set the bindings and default_role can give (including none),
  // each capped by mount_role. A kernel cache entry for such a path answers every caller as the
  // policy would. Sound because deny wins across roles: when each reachable role alone decides v
  // for the path, every non-empty set of them decides v too (an allow in all and a deny in none
  // stays so; a deny or a missing allow in each stays so), and a caller with no role is denied.
  // So it is enough that each reachable role alone decides the same, and (when a caller can
  // hold no role) that this is deny, or that mount_role denies anyway.
  bool UniformFor(const std::string& mount_role, CapabilitySet caps, std::string_view path) const;

 private:
  Policy() = default;
  std::string text_;
  bool built_in_ = false;
  std::vector<std::string> role_names_;
  std::vector<Rule> rules_;  // all roles' rules, in file order
  std::vector<Binding> bindings_;
  std::vector<Scope> scopes_;
  std::optional<std::string> default_role_;
  std::vector<std::string> reachable_roles_;  // set by Finish()
  // Derives reachable_roles_ once bindings and default_role are known (Load and BuiltIn call it).
  void Finish();
  struct NameRef {  // for Warnings
    std::string name;
    bool group = false;
    int line = 0, column = 0;
  };
  std::vector<NameRef> names_;
  std::string source_;
  friend class PolicyLoader;
};

}  // namespace weightfs::policy
