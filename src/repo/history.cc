// Versions, tags, offline snapshots, log PATH and restore. See history.h; diff, forget and gc
// live in history_diff.cc, history_forget.cc and history_gc.cc.
#include "weightfs/repo/history.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "repo/history_internal.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using history_internal::FindEntry;

constexpr size_t kMaxTagLength = 128;

bool IsHexDigit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Two entries at the same path are the same when everything but the name matches (a lookup of
// "/" gives a synthetic entry for the root: its id decides).
bool SameEntry(const std::optional<TreeEntry>& a, const std::optional<TreeEntry>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  TreeEntry x = *a, y = *b;
  x.name.clear();
  y.name.clear();
  return x == y;
}

}  // namespace

Result<ResolvedVersion> ResolveVersionOrLive(const Repository& repo, const std::string& version) {
  ResolvedVersion out;
  if (version == "live") {
    ASSIGN_OR_RETURN(Versioned<MainRef> main, repo.refs().ReadMain());
    out.root = main.value.live_root;
    out.label = "live";
    return out;
  }
  ASSIGN_OR_RETURN(SnapshotInfo info, repo.ResolveVersion(version));
  out.root = info.snapshot.root;
  out.label = info.id.Hex().substr(0, 16);
  out.snapshot = std::move(info);
  return out;
}

Status ValidateTagName(const std::string& name) {
  const std::string quoted = "tag name '" + name + "'";
  if (name.empty()) return InvalidArgument("a tag name cannot be empty");
  if (name.size() > kMaxTagLength) {
    return InvalidArgument("tag name is longer than " + std::to_string(kMaxTagLength) +
                           " characters");
  }
  for (char c : name) {
    const bool allowed =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
    if (!allowed || static_cast<unsigned char>(c) >= 0x80) {
      return InvalidArgument(quoted + ": only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  if (name[0] == '.' || name[0] == '-')
    return InvalidArgument(quoted + " must not start with '.' or '-'");
  if (name.size() >= 8 && std::all_of(name.begin(), name.end(), IsHexDigit)) {
    return InvalidArgument(quoted + " looks like a snapshot id (8 or more hex digits)");
  }
  if (name == "latest" || name == "live") return InvalidArgument(quoted + " is reserved");
  return Status::Ok();
}

Status SetTag(Repository* repo, const std::string& name, const ObjectId& snapshot, bool force) {
  RETURN_IF_ERROR(ValidateTagName(name));
  // A tag must name a snapshot that opens, or every later reader of it fails.
  RETURN_IF_ERROR(repo->objects().LoadSnapshot(snapshot).status().WithContext("tagging " + name));
  return repo->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    auto it = tags->find(name);
    if (it != tags->end()) {
      if (it->second == snapshot) return false;
      if (!force) {
        return AlreadyExists("tag '" + name + "' already points to snapshot " +
                             it->second.Hex().substr(0, 16) + " (use --force to move it)");
      }
    }
    (*tags)[name] = snapshot;
    return true;
  });
}

Status DeleteTag(Repository* repo, const std::string& name) {
  return repo->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    if (tags->erase(name) == 0) return NotFound("no tag named '" + name + "'");
    return true;
  });
}

Result<SnapshotInfo> SnapshotLive(Repository* repo, const SnapshotOptions& options) {
  if (!options.tag.empty()) {
    RETURN_IF_ERROR(ValidateTagName(options.tag));
    ASSIGN_OR_RETURN(auto tags, repo->refs().ReadTags());
    if (!options.force_tag && tags.value.count(options.tag) > 0) {
      return AlreadyExists("tag '" + options.tag + "' already exists (use --force to move it)");
    }
  }
  const std::string message = options.message.empty() ? "snapshot" : options.message;
  ASSIGN_OR_RETURN(
      SnapshotInfo snap,
      repo->CommitSnapshot([](const MainRef& main) -> Result<ObjectId> { return main.live_root; },
                           message));
  if (!options.tag.empty()) {
    Status s = SetTag(repo, options.tag, snap.id, options.force_tag);
    if (!s.ok())
      return s.WithContext("snapshot " + snap.id.Hex().substr(0, 16) +
                           " was recorded but not tagged");
  }
  return snap;
}

Result<std::vector<SnapshotInfo>> SnapshotsTouching(const Repository& repo,
                                                    const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  const std::string normalized = JoinPath(parts);
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> chain, repo.ListSnapshots());
  // Consecutive snapshots share roots often (unchanged snapshots), so look each root up once.
  std::unordered_map<ObjectId, std::optional<TreeEntry>, ObjectIdHash> at_root;
  auto entry_in = [&](const ObjectId& root) -> Result<std::optional<TreeEntry>> {
    if (auto it = at_root.find(root); it != at_root.end()) return it->second;
    ASSIGN_OR_RETURN(std::optional<TreeEntry> e, FindEntry(repo, root, normalized));
    at_root.emplace(root, e);
    return e;
  };
  std::vector<SnapshotInfo> out;
  for (size_t i = 0; i < chain.size(); ++i) {
    const SnapshotInfo& s = chain[i];
    ASSIGN_OR_RETURN(std::optional<TreeEntry> now, entry_in(s.snapshot.root));
    std::optional<TreeEntry> before;
    if (i + 1 < chain.size()) {
      if (chain[i + 1].snapshot.root == s.snapshot.root) continue;
      ASSIGN_OR_RETURN(before, entry_in(chain[i + 1].snapshot.root));
    }
    if (!SameEntry(now, before)) out.push_back(s);
  }
  return out;
}

Result<SnapshotInfo> RestoreToLive(Repository* repo, const std::string& version,
                                   const std::string& path) {
  if (version == "live")
    return InvalidArgument("restore needs a snapshot or tag, not the live tree");
  ASSIGN_OR_RETURN(SnapshotInfo from, repo->ResolveVersion(version));
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  const std::string normalized = JoinPath(parts);
  ASSIGN_OR_RETURN(std::optional<TreeEntry> entry,
                   FindEntry(*repo, from.snapshot.root, normalized));
  if (!entry) {
    return NotFound(normalized + " does not exist in snapshot " + from.id.Hex().substr(0, 16));
  }
  // Every key slot reads snapshot messages: with scopes the message names no path.
  const std::string message =
      repo->objects().scoped() ? "restore from " + from.id.Hex().substr(0, 16)
                               : "restore " + normalized + " from " + from.id.Hex().substr(0, 16);
  // With scopes, what comes back is sealed under today's scopes (the snapshot may be older than
  // them, or than a change of them).
  if (repo->objects().scoped() && parts.empty() && !repo->objects().HoldsAllKeys()) {
    // The live tree's scopes this slot cannot open would go back to the snapshot's.
    return PermissionDenied(
        "restoring / needs a key slot that holds every scope's keys; restore "
        "the directories of your scopes one by one");
  }
  if (repo->objects().scoped() && entry->type == EntryType::kDirectory) {
    ASSIGN_OR_RETURN(entry->id, repo->objects().Rescope(entry->id, normalized));
  }
  return repo->CommitSnapshot(
      [&](const MainRef& main) -> Result<ObjectId> {
        if (parts.empty()) return entry->id;
        return PutAtPath(repo, main.live_root, parts, *entry);
      },
      message);
}

Result<int64_t> ParseDurationSeconds(const std::string& text) {
  const std::string bad =
      "bad duration '" + text + "': use a number with a unit s, m, h, d or w (30m, 2h, 7d) or 0";
  if (text == "0") return int64_t{0};
  if (text.size() < 2) return InvalidArgument(bad);
  const std::string digits = text.substr(0, text.size() - 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      digits.size() > 12) {
    return InvalidArgument(bad);
  }
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return InvalidArgument(bad);
  }
  return static_cast<int64_t>(std::stoll(digits)) * unit;
}

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAdded:
      return "added";
    case ChangeKind::kRemoved:
      return "removed";
    case ChangeKind::kModified:
      return "modified";
    case ChangeKind::kTypeChanged:
      return "type_changed";
    case ChangeKind::kMetadata:
      return "metadata";
  }
  return "?";
}

const char* TensorChangeKindName(TensorChangeKind kind) {
  switch (kind) {
    case TensorChangeKind::kAdded:
      return "added";
    case TensorChangeKind::kRemoved:
      return "removed";
    case TensorChangeKind::kLayout:
      return "layout";
    case TensorChangeKind::kContent:
      return "content";
  }
  return "?";
}

size_t ForgetResult::kept() const {
  return static_cast<size_t>(
      std::count_if(decisions.begin(), decisions.end(), [](const auto& d) { return d.keep; }));
}
size_t ForgetResult::forgotten() const { return decisions.size() - kept(); }

}  // namespace weightfs::repo
