// Loading a policy from YAML. The only file that includes yaml-cpp: every yaml-cpp exception is
// caught here and becomes kInvalidArgument "SOURCE:LINE:COLUMN: message". Strict by design: a typo
// in a security policy must fail loudly, never silently grant or deny.

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "weightfs/core/names.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

constexpr char kCapabilityList[] =
    "list, read, create, update, delete, history, snapshot, admin, all";

struct Field {
  YAML::Node key;
  YAML::Node value;
};
using Fields = std::map<std::string, Field>;

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string KindName(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "a single value";
  if (n.IsSequence()) return "a list";
  return "a mapping";
}

// Finds the first alias (`*name`) in a YAML text from the parser's events, which never expand
// anything: a node tree would share an aliased node, but walking it visits it once per alias, so
// a 243 KB file of 20,000 aliases to a rule of 2,000 patterns costs 40 million patterns.
// It also notes where each document starts: on a token it cannot place (a "," outside brackets),
// yaml-cpp 0.7 neither fails nor moves on but returns an empty document at the same place again,
// forever (so YAML::LoadAll never returns); two documents starting at one place mean that.
class AliasFinder : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> first_alias;
  std::vector<YAML::Mark> document_starts;
  std::optional<YAML::Mark> second_document;  // its first node, where a "---" part begins
  std::optional<YAML::Mark> Stuck() const {
    const size_t n = document_starts.size();
    if (n >= 2 && document_starts[n - 1].pos == document_starts[n - 2].pos)
      return document_starts[n - 1];
    return std::nullopt;
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    if (!first_alias) first_alias = mark;
  }
  void OnDocumentStart(const YAML::Mark& mark) override { document_starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark) {
    if (document_starts.size() == 2 && !second_document) second_document = mark;
  }
};

}  // namespace

// Friend of Policy: fills one in place while walking the document.
class PolicyLoader {
 public:
  explicit PolicyLoader(std::string source) : source_(std::move(source)), p_(new Policy()) {}

  Result<std::shared_ptr<const Policy>> Load(std::string_view yaml) {
    p_->text_ = std::string(yaml);
    p_->source_ = source_;
    try {
      RETURN_IF_ERROR(LoadDocument());
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp 0.7 gives this one the message of BadFile; say what it means.
      return Error(e.mark, "YAML syntax error: nesting is too deep (a policy needs a few levels)");
    } catch (const YAML::ParserException& e) {
      return Error(e.mark,
                   "YAML syntax error: " + e.msg + " (check brackets, quotes and indentation)");
    } catch (const YAML::Exception& e) {
      return Error(e.mark, e.msg);
    }
    p_->Finish();
    return std::shared_ptr<const Policy>(std::move(p_));
  }

 private:
  // yaml-cpp marks are 0-based; a null mark (-1) means "no position", reported as 1:1.
  Status Error(const YAML::Mark& m, const std::string& message) const {
    int line = m.line >= 0 ? m.line + 1 : 1;
    int column = m.column >= 0 ? m.column + 1 : 1;
    return InvalidArgument(source_ + ":" + std::to_string(line) + ":" + std::to_string(column) +
                           ": " + message);
  }

  // A node's position; an absent or empty value has none of its own (yaml-cpp places an empty
  // value at the next token), so use where its key is.
  static YAML::Mark MarkOf(const YAML::Node& n, const YAML::Mark& fallback) {
    if (!n.IsDefined() || n.IsNull()) return fallback;
    YAML::Mark m = n.Mark();
    return m.line >= 0 ? m : fallback;
  }

  // Checks that node is a mapping whose keys are scalars from allowed, none repeated (yaml-cpp
  // 0.7 keeps repeated keys silently, and lookups would see only the first).
  Result<Fields> Map(const YAML::Node& node, const YAML::Mark& at,
                     std::initializer_list<const char*> allowed, const std::string& what) {
    std::vector<std::string> names(allowed.begin(), allowed.end());
    if (!node.IsMap()) {
      return Error(MarkOf(node, at), what + " must be a mapping with keys " + Join(names) +
                                         ", not " + KindName(node));
    }
    Fields fields;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: the iterator's operator-> hands out a temporary pair, references would dangle.
      const YAML::Node key = it->first, value = it->second;
      if (!key.IsScalar()) return Error(MarkOf(key, at), "expected a key name in " + what);
      const std::string& name = key.Scalar();
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        return Error(key.Mark(), "unknown key " + Quote(name) + " in " + what +
                                     " (expected one of: " + Join(names) + ")");
      }
      auto [prev, inserted] = fields.emplace(name, Field{key, value});
      if (!inserted) {
        return Error(key.Mark(),
                     "duplicate key " + Quote(name) + " in " + what + " (first at line " +
                         std::to_string(prev->second.key.Mark().line + 1) + "); keep one");
      }
    }
    return fields;
  }

  Result<std::string> Scalar(const Field& f, const std::string& what) {
    if (!f.value.IsScalar()) {
      return Error(MarkOf(f.value, f.key.Mark()),
                   what + " must be a single value, not " + KindName(f.value));
    }
    return f.value.Scalar();
  }

  Status LoadDocument() {
    if (p_->text_.size() > kMaxPolicyBytes) {
      return Error(YAML::Mark(), "the policy is " + std::to_string(p_->text_.size()) +
                                     " bytes, more than the " + std::to_string(kMaxPolicyBytes) +
                                     " a policy may have");
    }
    {
      std::istringstream in(p_->text_);
      YAML::Parser parser(in);
      AliasFinder finder;
      // A policy is one document: three are enough to tell one from several, or a stuck parser.
      while (!finder.first_alias && finder.document_starts.size() < 3 && !finder.Stuck() &&
             parser.HandleNextDocument(finder)) {
      }
      if (finder.first_alias) {
        return Error(
            *finder.first_alias,
            "YAML aliases (*name) are not accepted in a policy: a few bytes of them can expand to "
            "gigabytes; write the rules out (or generate the file)");
      }
      if (std::optional<YAML::Mark> stuck = finder.Stuck()) {
        return Error(*stuck, "YAML syntax error: unexpected token (a \",\" outside brackets?)");
      }
      if (finder.document_starts.size() > 1) {
        return Error(finder.second_document.value_or(finder.document_starts[1]),
                     "a policy file holds one YAML document; remove the second \"---\" part");
      }
    }
    // The first (and only) document: YAML::Load stops after it.
    const YAML::Node root = YAML::Load(p_->text_);
    if (root.IsNull()) {
      return Error(YAML::Mark(),
                   R"(the policy is empty; it needs at least "version: 1" and "roles")");
    }
    ASSIGN_OR_RETURN(Fields top,
                     Map(root, YAML::Mark(),
                         {"version", "roles", "bindings", "default_role", "scopes"}, "the policy"));
    auto version = top.find("version");
    if (version == top.end()) {
      return Error(root.Mark(),
                   "missing \"version: 1\" (the policy format version) at the top level");
    }
    RETURN_IF_ERROR(LoadVersion(version->second));
    auto roles = top.find("roles");
    if (roles == top.end()) {
      return Error(root.Mark(), "missing \"roles\": define at least one role with its rules");
    }
    RETURN_IF_ERROR(LoadRoles(roles->second));
    if (auto b = top.find("bindings"); b != top.end()) RETURN_IF_ERROR(LoadBindings(b->second));
    if (auto s = top.find("scopes"); s != top.end()) RETURN_IF_ERROR(LoadScopes(s->second));
    if (auto d = top.find("default_role"); d != top.end()) {
      ASSIGN_OR_RETURN(std::string role, Scalar(d->second, "default_role"));
      RETURN_IF_ERROR(
          CheckRoleDefined(role, MarkOf(d->second.value, d->second.key.Mark()), "default_role"));
      p_->default_role_ = role;
    }
    return Status::Ok();
  }

  Status LoadVersion(const Field& f) {
    ASSIGN_OR_RETURN(std::string text, Scalar(f, "version"));
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!AllDigits(text)) return Error(at, "version must be the number 1, not " + Quote(text));
    if (text != "1")
      return Error(at, "unsupported policy version " + text + "; this weightfs reads version 1");
    return Status::Ok();
  }

  Status LoadRoles(const Field& f) {
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsMap()) {
      return Error(
          at, "roles must be a mapping from role name to {rules: [...]}, not " + KindName(f.value));
    }
    std::map<std::string, int> seen;  // role name -> line of its first definition
    for (auto it = f.value.begin(); it != f.value.end(); ++it) {
      const YAML::Node key = it->first, value = it->second;
      if (!key.IsScalar()) return Error(MarkOf(key, at), "expected a role name");
      const std::string& name = key.Scalar();
      if (!ValidateRoleName(name).ok()) {
        return Error(key.Mark(), "bad role name " + Quote(name) +
                                     ": use 1 to 64 letters, digits, '.', '_' or '-'");
      }
      auto [prev, inserted] = seen.emplace(name, key.Mark().line + 1);
      if (!inserted) {
        return Error(key.Mark(), "role " + Quote(name) + " is defined twice (first at line " +
                                     std::to_string(prev->second) +
                                     "); merge its rules into one entry");
      }
      p_->role_names_.push_back(name);
      ASSIGN_OR_RETURN(Fields role, Map(value, key.Mark(), {"rules"}, "role " + Quote(name)));
      auto rules = role.find("rules");
      if (rules == role.end()) {
        return Error(MarkOf(value, key.Mark()), "role " + Quote(name) + " has no \"rules\" list");
      }
      const Field& r = rules->second;
      if (!r.value.IsSequence()) {
        return Error(MarkOf(r.value, r.key.Mark()),
                     "rules of role " + Quote(name) + " must be a list, not " + KindName(r.value));
      }
      for (size_t i = 0; i < r.value.size(); ++i) {
        RETURN_IF_ERROR(LoadRule(name, static_cast<int>(i), r.value[i], r.key.Mark()));
      }
    }
    if (p_->role_names_.empty()) return Error(at, "roles is empty; define at least one role");
    return Status::Ok();
  }

  Status LoadRule(const std::string& role, int index, const YAML::Node& node,
                  const YAML::Mark& at) {
    const std::string what = "rule " + std::to_string(index + 1) + " of role " + Quote(role);
    ASSIGN_OR_RETURN(Fields fields, Map(node, at, {"paths", "allow", "deny"}, what));
    YAML::Mark here = MarkOf(node, at);
    Rule rule;
    rule.role = role;
    rule.index = index;
    rule.line = here.line + 1;
    auto paths = fields.find("paths");
    if (paths == fields.end()) return Error(here, what + " has no \"paths\" list");
    RETURN_IF_ERROR(LoadPaths(paths->second, what, &rule));
    auto allow = fields.find("allow");
    auto deny = fields.find("deny");
    if (allow != fields.end() && deny != fields.end()) {
      const Field& second =
          allow->second.key.Mark().pos > deny->second.key.Mark().pos ? allow->second : deny->second;
      return Error(second.key.Mark(),
                   what + R"( has both "allow" and "deny"; split it into two rules)");
    }
    if (allow == fields.end() && deny == fields.end()) {
      return Error(here, what + R"( needs "allow: [...]" or "deny: [...]")");
    }
    rule.deny = deny != fields.end();
    ASSIGN_OR_RETURN(rule.caps, LoadCapabilities(rule.deny ? deny->second : allow->second, what));
    p_->rules_.push_back(std::move(rule));
    return Status::Ok();
  }

  Status LoadPaths(const Field& f, const std::string& what, Rule* rule) {
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsSequence() || f.value.size() == 0) {
      return Error(
          at, "paths of " + what + " must be a non-empty list of patterns, like [\"/public/**\"]");
    }
    for (const YAML::Node& item : f.value) {
      if (!item.IsScalar())
        return Error(MarkOf(item, at), "a path pattern must be a string, not " + KindName(item));
      Result<Pattern> p = Pattern::Parse(item.Scalar());
      if (!p.ok()) return Error(item.Mark(), p.status().message());
      rule->paths.push_back(std::move(p).value());
    }
    return Status::Ok();
  }

  Result<CapabilitySet> LoadCapabilities(const Field& f, const std::string& what) {
    const std::string key = f.key.Scalar();
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsSequence() || f.value.size() == 0) {
      return Error(at, key + " of " + what + " must be a non-empty list of capabilities (" +
                           kCapabilityList + ")");
    }
    CapabilitySet caps = 0;
    for (const YAML::Node& item : f.value) {
      std::string name = item.IsScalar() ? item.Scalar() : KindName(item);
      if (item.IsScalar() && name == "all") {
        caps |= kAllCapabilities;
      } else if (auto c = item.IsScalar() ? ParseCapability(name) : std::nullopt) {
        caps |= Bit(*c);
      } else {
        return Error(MarkOf(item, at), "unknown capability " + Quote(name) +
                                           " (expected one of: " + kCapabilityList + ")");
      }
    }
    return caps;
  }

  Status CheckRoleDefined(const std::string& role, const YAML::Mark& at, const std::string& where) {
    if (p_->HasRole(role)) return Status::Ok();
    return Error(at, where + " names role " + Quote(role) +
                         ", which is not defined under roles (defined: " + Join(p_->RoleNames()) +
                         ")");
  }

  // scopes: a mapping from scope name to a non-empty list of patterns. Patterns of one scope may
  // overlap each other; patterns of two scopes may not, so that a path has exactly one scope.
  Status LoadScopes(const Field& f) {
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsMap()) {
      return Error(at,
                   "scopes must be a mapping from scope name to a list of path patterns, like "
                   "{public: [\"/public/**\"]}, not " +
                       KindName(f.value));
    }
    std::vector<std::vector<YAML::Mark>> marks;  // per scope, per pattern
    ScopeBudget budget;
    for (auto it = f.value.begin(); it != f.value.end(); ++it) {
      const YAML::Node key = it->first, value = it->second;
      if (!key.IsScalar()) return Error(MarkOf(key, at), "expected a scope name");
      RETURN_IF_ERROR(CheckScopeName(key));
      Scope scope;
      scope.name = key.Scalar();
      scope.line = key.Mark().line + 1;
      std::vector<YAML::Mark> scope_marks;
      RETURN_IF_ERROR(LoadScopePatterns(key, value, &scope, &scope_marks, &budget));
      p_->scopes_.push_back(std::move(scope));
      marks.push_back(std::move(scope_marks));
    }
    return CheckScopesDisjoint(marks);
  }

  Status CheckScopeName(const YAML::Node& key) {
    const std::string& name = key.Scalar();
    if (name == kDefaultScope) {
      return Error(key.Mark(), R"(scope "default" cannot be declared: it is the scope of every )"
                               "path no scope pattern matches");
    }
    if (!ValidateRoleName(name).ok()) {
      return Error(key.Mark(), "bad scope name " + Quote(name) +
                                   ": use 1 to 64 letters, digits, '.', '_' or '-'");
    }
    for (const Scope& prev : p_->scopes_) {
      if (prev.name == name) {
        return Error(key.Mark(), "scope " + Quote(name) + " is declared twice (first at line " +
                                     std::to_string(prev.line) +
                                     "); merge its patterns into one list");
      }
    }
    if (p_->scopes_.size() == static_cast<size_t>(kMaxScopes)) {
      return Error(key.Mark(), "more than " + std::to_string(kMaxScopes) +
                                   " scopes; a policy may declare at most " +
                                   std::to_string(kMaxScopes) + " (and default)");
    }
    return Status::Ok();
  }

  // How much of the scope patterns' bounds the patterns so far use.
  struct ScopeBudget {
    size_t bytes = 0;
    size_t count = 0;
  };

  Status LoadScopePatterns(const YAML::Node& key, const YAML::Node& value, Scope* scope,
                           std::vector<YAML::Mark>* marks, ScopeBudget* budget) {
    const YAML::Mark here = MarkOf(value, key.Mark());
    if (!value.IsSequence() || value.size() == 0) {
      return Error(here, "scope " + Quote(scope->name) +
                             " must be a non-empty list of path patterns, like [\"/" + scope->name +
                             "/**\"]");
    }
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) {
        return Error(MarkOf(item, here), "a path pattern must be a string, not " + KindName(item));
      }
      Result<Pattern> p = Pattern::Parse(item.Scalar());
      if (!p.ok()) return Error(item.Mark(), p.status().message());
      budget->bytes += item.Scalar().size();
      if (budget->bytes > kMaxScopePatternBytes || ++budget->count > kMaxScopePatterns) {
        return Error(item.Mark(), "the scope patterns are too many: at most " +
                                      std::to_string(kMaxScopePatterns) + " patterns of " +
                                      std::to_string(kMaxScopePatternBytes) +
                                      " bytes together (scopes are meant to be few and broad)");
      }
      scope->patterns.push_back(std::move(p).value());
      marks->push_back(item.Mark());
    }
    return Status::Ok();
  }

  Status CheckScopesDisjoint(const std::vector<std::vector<YAML::Mark>>& marks) {
    struct Placed {  // a scope pattern and where it is written
      size_t scope;
      const Pattern* pattern;
      YAML::Mark mark;
    };
    std::vector<Placed> placed;
    for (size_t s = 0; s < p_->scopes_.size(); ++s) {
      const std::vector<Pattern>& patterns = p_->scopes_[s].patterns;
      for (size_t i = 0; i < patterns.size(); ++i) placed.push_back({s, &patterns[i], marks[s][i]});
    }
    for (size_t later = 0; later < placed.size(); ++later) {
      for (size_t earlier = 0; earlier < later; ++earlier) {
        const Placed& x = placed[later];
        const Placed& y = placed[earlier];
        if (x.scope == y.scope || !x.pattern->Overlaps(*y.pattern)) continue;
        return Error(x.mark, "scope " + p_->scopes_[x.scope].name + "'s pattern " +
                                 x.pattern->text() + " overlaps scope " +
                                 p_->scopes_[y.scope].name + "'s pattern " + y.pattern->text() +
                                 " (line " + std::to_string(y.mark.line + 1) +
                                 "): a path belongs to exactly one scope");
      }
    }
    return Status::Ok();
  }

  Status LoadBindings(const Field& f) {
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsSequence()) {
      return Error(at,
                   "bindings must be a list of {role, users, groups}, not " + KindName(f.value));
    }
    for (const YAML::Node& node : f.value) {
      ASSIGN_OR_RETURN(Fields fields, Map(node, at, {"role", "users", "groups"}, "a binding"));
      YAML::Mark here = MarkOf(node, at);
      Binding b;
      b.line = here.line + 1;
      auto role = fields.find("role");
      if (role == fields.end()) return Error(here, "binding has no \"role\"");
      ASSIGN_OR_RETURN(b.role, Scalar(role->second, "role"));
      RETURN_IF_ERROR(
          CheckRoleDefined(b.role, MarkOf(role->second.value, role->second.key.Mark()), "binding"));
      if (auto u = fields.find("users"); u != fields.end())
        RETURN_IF_ERROR(LoadEntries(u->second, false, &b));
      if (auto g = fields.find("groups"); g != fields.end())
        RETURN_IF_ERROR(LoadEntries(g->second, true, &b));
      if (b.users.empty() && b.groups.empty()) {
        return Error(
            here, "binding of role " + Quote(b.role) + " names nobody; list some users or groups");
      }
      p_->bindings_.push_back(std::move(b));
    }
    return Status::Ok();
  }

  Status LoadEntries(const Field& f, bool group, Binding* b) {
    const char* kind = group ? "group" : "user";
    YAML::Mark at = MarkOf(f.value, f.key.Mark());
    if (!f.value.IsSequence()) {
      return Error(at, std::string(group ? "groups" : "users") +
                           " must be a list of names or numeric ids, not " + KindName(f.value));
    }
    for (const YAML::Node& item : f.value) {
      YAML::Mark m = MarkOf(item, at);
      if (!item.IsScalar() || item.Scalar().empty()) {
        return Error(
            m, std::string("a ") + kind + " must be a name or a numeric id, not " + KindName(item));
      }
      const std::string entry = item.Scalar();
      std::string canonical = entry;
      if (AllDigits(entry)) {
        uint32_t id = 0;
        auto [end, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), id);
        if (ec != std::errc() || end != entry.data() + entry.size()) {
          return Error(
              m, std::string(kind) + " id " + entry + " is out of range (at most 4294967295)");
        }
        canonical = std::to_string(id);
      } else if (entry.find('\0') != std::string::npos) {
        return Error(m, std::string(kind) + " name contains a NUL byte");
      } else {
        p_->names_.push_back({entry, group, m.line + 1, m.column + 1});
      }
      std::string key = b->role + '\0' + kind + '\0' + canonical;
      auto [prev, inserted] = seen_entries_.emplace(key, m.line + 1);
      if (!inserted) {
        return Error(m, std::string(kind) + " " + Quote(entry) + " is bound to role " +
                            Quote(b->role) + " twice (first at line " +
                            std::to_string(prev->second) + "); list it once");
      }
      (group ? b->groups : b->users).push_back(entry);
    }
    return Status::Ok();
  }

  const std::string source_;
  std::shared_ptr<Policy> p_;
  std::map<std::string, int> seen_entries_;  // role, kind, canonical entry -> first line
};

Result<std::shared_ptr<const Policy>> Policy::Load(std::string_view yaml,
                                                   const std::string& source) {
  return PolicyLoader(source).Load(yaml);
}

}  // namespace weightfs::policy
