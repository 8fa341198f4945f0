// VersionsView: the read-only `.versions/` tree of a mount.
//
//   .versions/ids/<snapshot id>/   the snapshot's tree (any unique prefix of >= 8 hex digits
//                                  also resolves on lookup; listing shows full ids)
//   .versions/tags/<tag>/          the tagged snapshot's tree (a directory, so that
//                                  `mkdir .versions/tags/NAME` can answer with a directory)
//   .versions/by-time/<UTC time>   symlink to ../ids/<id>, time as 2026-11-29T130501Z
//   .versions/latest               symlink to ids/<id> of the newest snapshot
// Nodes live in their own inode range, so every operation can tell at once whether it is
// inside `.versions/`. Snapshot content never changes: files keep the page cache and entries
// below ids/ and tags/ get long cache timeouts; the listings of ids/, tags/, by-time/ and
// latest are refreshed from the refs at most every refresh_s seconds (at once after this
// mount made a snapshot).
// Thread-safe: one mutex guards the node table; it is not held while objects are loaded.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "weightfs/core/pieces.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class FileContent;

class VersionsView {
 public:
  static constexpr NodeId kBase = NodeId{1} << 48;
  static constexpr NodeId kTop = kBase;  // .versions itself
  static constexpr const char* kName = ".versions";
  static bool Owns(NodeId ino) { return ino >= kBase; }

  struct Options {
    uint32_t uid = 0;
    uint32_t gid = 0;
    double refresh_s = 2.0;        // how stale the snapshot and tag lists may be
    double listing_timeout_s = 1;  // kernel cache timeout for the listing nodes
    double content_timeout_s = 3600;
    repo::ChunkReader* reader = nullptr;  // the mount's; null: frames only, no read-ahead
  };
  VersionsView(repo::Repository* repo, Options options);
  ~VersionsView();

  Result<EntryOut> LookupTop();
  Result<EntryOut> Lookup(NodeId parent, const std::string& name);
  Result<Attr> GetAttr(NodeId ino);
  Result<std::string> ReadLink(NodeId ino);
  Result<std::vector<DirEntry>> List(NodeId ino);  // ".", "..", then the entries
  Result<OpenOut> Open(NodeId ino);
  Status Read(NodeId ino, uint64_t offset, uint64_t size, PieceList* out);
  // The content of a file node (opened on first use).
  Result<std::shared_ptr<FileContent>> Content(NodeId ino);
  Result<Bytes> GetXattr(NodeId ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(NodeId ino);
  // The path a node had in its snapshot ("/" for a snapshot's root), or nullopt for the
  // listing nodes (.versions itself, ids/, tags/, by-time/, latest and their links).
  std::optional<std::string> PathInVersion(NodeId ino) const;
  // True when parent is .versions/tags (where mkdir makes a tagged snapshot).
  bool IsTagsDir(NodeId parent) const { return parent == kTags; }
  // Forgets the cached snapshot and tag lists, so the next lookup sees new snapshots.
  void Invalidate();

 private:
  static constexpr NodeId kIds = kBase + 1;
  static constexpr NodeId kTags = kBase + 2;
  static constexpr NodeId kByTime = kBase + 3;
  static constexpr NodeId kLatest = kBase + 4;

  enum class Kind { kFixedDir, kLink, kTreeDir, kFile, kSymlink };
  struct Node {
    Kind kind = Kind::kFixedDir;
    NodeId parent = kTop;
    repo::TreeEntry entry;  // kTreeDir/kFile/kSymlink: the stored entry (root: a directory); kFile
                            // also stands for special files (entry.type says which)
    std::string link;       // kLink target
    std::map<std::string, NodeId> children;  // lookups below kTreeDir nodes, kept stable
    std::shared_ptr<FileContent> content;
  };
  struct Lists {
    std::vector<repo::SnapshotInfo> snapshots;  // newest first
    std::map<std::string, ObjectId> tags;
    std::chrono::steady_clock::time_point loaded;
  };

  Result<std::shared_ptr<const Lists>> CurrentLists();
  Attr AttrOf(NodeId ino, const Node& n) const;
  EntryOut EntryOf(NodeId ino, const Node& n, bool listing) const;
  // Node for a child; created on first use (caller holds mu_).
  NodeId ChildLocked(NodeId parent, const std::string& name, Node node);
  Result<const repo::SnapshotInfo*> FindSnapshot(const Lists& lists, const std::string& name) const;
  static std::string TimeName(int64_t ns);

  repo::Repository* repo_;
  Options options_;
  mutable std::mutex mu_;
  std::unordered_map<NodeId, Node> nodes_;
  std::map<std::pair<NodeId, std::string>, NodeId> by_name_;
  NodeId next_ino_ = kBase + 16;
  std::shared_ptr<const Lists> lists_;
};

}  // namespace weightfs::vfs
