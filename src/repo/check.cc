#include "weightfs/repo/check.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

class Checker {
 public:
  Checker(const Repository& repo, const CheckOptions& options) : repo_(repo), options_(options) {}

  void CheckSnapshotChain(const MainRef& main) {
    std::optional<ObjectId> next = main.head;
    uint64_t expect = main.head_seq;
    while (next) {
      auto snap = repo_.objects().LoadSnapshot(*next);
      if (!snap.ok() && snap.status().code() == Code::kPermissionDenied) {
        NotChecked("snapshots #" + std::to_string(expect) +
                   " and older (recorded before the repository had scopes)");
        return;
      }
      if (!snap.ok()) {
        Problem(snap.status().message() + " (snapshot chain, sequence " + std::to_string(expect) +
                ")");
        return;
      }
      report_.snapshots++;
      if (snap->seq != expect) {
        Problem("snapshot " + next->Hex() + " has sequence " + std::to_string(snap->seq) +
                ", expected " + std::to_string(expect));
      }
      CheckTree(snap->root, "snapshot " + next->Hex().substr(0, 12) + ":/");
      --expect;
      next = snap->parent;
    }
  }

  void CheckTagged(const std::string& tag, const ObjectId& id) {
    auto snap = repo_.objects().LoadSnapshot(id);
    if (!snap.ok()) {
      Problem(snap.status().message() + " (tag '" + tag + "')");
      return;
    }
    CheckTree(snap->root, "tag " + tag + ":/");
  }

  void CheckTree(const ObjectId& id, const std::string& path) {
    if (!seen_trees_.insert(id).second) return;
    // With scopes: a fragment this slot cannot open is checked to exist, no further.
    auto fragments = repo_.objects().FragmentsOf(id);
    if (!fragments.ok()) {
      Problem(fragments.status().message() + " (directory " + path + ")");
      return;
    }
    for (const ScopedRoot& f : *fragments) {
      if (repo_.keyring().Holds(f.key_id)) continue;
      NotChecked("scope " + repo_.objects().ScopeOfKey(f.key_id) +
                 " (this key slot does not hold its keys)");
      if (!seen_trees_.insert(f.id).second) continue;
      auto size = repo_.store()->Size(f.id);
      if (!size.ok()) {
        Problem("tree object " + f.id.Hex() + " of scope " + repo_.objects().ScopeOfKey(f.key_id) +
                (size.status().code() == Code::kNotFound ? " is missing"
                                                         : ": " + size.status().message()) +
                " (directory " + path + ")");
      }
    }
    auto tree = repo_.objects().LoadTree(id);
    if (!tree.ok()) {
      Problem(tree.status().message() + " (directory " + path + ")");
      return;
    }
    report_.trees++;
    for (const TreeEntry& e : tree->entries) {
      std::string child = (path.back() == '/' ? path : path + "/") + e.name;
      if (e.type == EntryType::kDirectory) CheckTree(e.id, child);
      if (e.type == EntryType::kFile) CheckFile(e, child);
    }
  }

  void CheckFile(const TreeEntry& e, const std::string& path) {
    if (!seen_files_.insert(e.id).second) return;
    auto file = repo_.objects().LoadFile(e.id);
    if (!file.ok()) {
      Problem(file.status().message() + " (file " + path + ")");
      return;
    }
    report_.files++;
    if (file->size != e.size) {
      Problem("file " + path + ": its object " + e.id.Hex() + " holds " +
              std::to_string(file->size) + " bytes, its directory entry says " +
              std::to_string(e.size));
    }
    for (const ChunkRef& c : file->chunks) {
      if (!c.hole) CheckChunk(c, path);  // a hole is no object
    }
  }

  void CheckChunk(const ChunkRef& c, const std::string& path) {
    if (!seen_chunks_.insert(c.id).second) return;
    report_.chunks++;
    report_.chunk_bytes += c.size;
    if (options_.read_data) {
      auto plain = repo_.objects().GetObject(ObjectType::kChunk, c.id);
      if (!plain.ok()) {
        Problem(plain.status().message() + " (file " + path + ")");
      } else if (plain->size() != c.size) {
        Problem("chunk object " + c.id.Hex() + " holds " + std::to_string(plain->size()) +
                " bytes, expected " + std::to_string(c.size) + " (file " + path + ")");
      }
      bytes_done_ += c.size;
      if (options_.progress) options_.progress(bytes_done_);
      return;
    }
    auto size = repo_.store()->Size(c.id);
    if (!size.ok()) {
      Problem("chunk object " + c.id.Hex() +
              (size.status().code() == Code::kNotFound ? " is missing"
                                                       : ": " + size.status().message()) +
              " (file " + path + ")");
    } else if (*size != crypto::ObjectCipher::SealedSize(c.size)) {
      Problem("chunk object " + c.id.Hex() + " has the wrong size " + std::to_string(*size) +
              " (file " + path + ")");
    }
  }

  void Problem(std::string message) { report_.problems.push_back(std::move(message)); }
  void NotChecked(const std::string& what) {
    auto& v = report_.not_checked;
    if (std::find(v.begin(), v.end(), what) == v.end()) v.push_back(what);
  }
  CheckReport& report() { return report_; }

 private:
  const Repository& repo_;
  const CheckOptions& options_;
  CheckReport report_;
  uint64_t bytes_done_ = 0;
  std::unordered_set<ObjectId, ObjectIdHash> seen_trees_, seen_files_, seen_chunks_;
};

}  // namespace

Result<CheckReport> CheckRepository(const Repository& repo, const CheckOptions& options) {
  Checker checker(repo, options);
  for (std::string& p : repo.key_slots().VerifyMetadata()) checker.Problem(std::move(p));
  auto main = repo.refs().ReadMain();
  if (!main.ok()) {
    checker.Problem(main.status().message());
  } else {
    checker.CheckTree(main->value.live_root, "/");
    checker.CheckSnapshotChain(main->value);
  }
  auto tags = repo.refs().ReadTags();
  if (!tags.ok()) {
    checker.Problem(tags.status().message());
  } else {
    for (const auto& [name, id] : tags->value) checker.CheckTagged(name, id);
  }
  auto policies = repo.policies().ListPolicies();
  if (!policies.ok() && policies.status().code() == Code::kPermissionDenied) {
    checker.NotChecked("policy versions set before the repository had scopes");
  } else if (!policies.ok()) {
    checker.Problem("policy history: " + policies.status().message());
  }
  return std::move(checker.report());
}

namespace {

// Adds the logical size of every file below root to *total; counts distinct chunks in *chunks.
Status SumTree(const Repository& repo, const ObjectId& root, uint64_t* total, uint64_t* files,
               std::unordered_map<ObjectId, uint64_t, ObjectIdHash>* tree_sizes,
               std::unordered_map<ObjectId, uint32_t, ObjectIdHash>* chunks,
               std::unordered_set<ObjectId, ObjectIdHash>* seen_files) {
  if (auto it = tree_sizes->find(root); it != tree_sizes->end()) {
    *total += it->second;
    return Status::Ok();
  }
  uint64_t sum = 0;
  RETURN_IF_ERROR(WalkTree(repo, root, "/", [&](const std::string&, const TreeEntry& e) {
    if (e.type != EntryType::kFile) return Status::Ok();
    sum += e.size;
    if (files) ++*files;
    if (seen_files->insert(e.id).second) {
      ASSIGN_OR_RETURN(FileObject f, repo.objects().LoadFile(e.id));
      for (const ChunkRef& c : f.chunks) {
        if (!c.hole) chunks->emplace(c.id, c.size);
      }
    }
    return Status::Ok();
  }));
  (*tree_sizes)[root] = sum;
  *total += sum;
  return Status::Ok();
}

}  // namespace

Result<RepoStats> ComputeStats(const Repository& repo) {
  RepoStats stats;
  std::unordered_map<ObjectId, uint64_t, ObjectIdHash> tree_sizes;
  std::unordered_map<ObjectId, uint32_t, ObjectIdHash> chunks;
  std::unordered_set<ObjectId, ObjectIdHash> seen_files;
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo.refs().ReadMain());
  RETURN_IF_ERROR(SumTree(repo, main.value.live_root, &stats.live_bytes, &stats.live_files,
                          &tree_sizes, &chunks, &seen_files));
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snaps, repo.ListSnapshots(&stats.partial));
  stats.snapshots = snaps.size();
  // The live tree counts on its own only where it differs from the latest snapshot.
  if (snaps.empty() || snaps.front().snapshot.root != main.value.live_root) {
    stats.logical_bytes = stats.live_bytes;
  }
  for (const SnapshotInfo& s : snaps) {
    RETURN_IF_ERROR(SumTree(repo, s.snapshot.root, &stats.logical_bytes, nullptr, &tree_sizes,
                            &chunks, &seen_files));
  }
  for (const auto& [id, size] : chunks) stats.unique_bytes += size;
  RETURN_IF_ERROR(repo.store()->ForEach([&](const ObjectId&, uint64_t size) {
    stats.objects++;
    stats.stored_bytes += size;
    return Status::Ok();
  }));
  stats.dedup_ratio =
      stats.stored_bytes ? static_cast<double>(stats.logical_bytes) / stats.stored_bytes : 0;
  return stats;
}

}  // namespace weightfs::repo
