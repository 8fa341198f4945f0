// VersionsView: the read-only `.versions/` tree of a mount.
//
//   .versions/ids/<snapshot id>/   the snapshot's tree (any unique prefix of >= 8 hex digits
//                                  also resolves on lookup; listing shows full ids)
//   .versions/tags/<tag>/          the tagged snapshot's tree (a directory, so that
//                                  `mkdir .versions/tags/NAME` can answer with a directory)
//   .versions/by-time/<UTC time>   symlink to ../ids/<id>, time as 2026-11-29T130501Z
//   .versions/latest               symlink to ids/<id> of the newest snapshot
// Nodes live in their own inode range (kBase and above), so a request is routed to this view by
// its inode number alone (see inode_range.h). Snapshot content never changes: files keep the page
// cache and entries below ids/ and tags/ get long cache timeouts; the listings of ids/, tags/,
// by-time/ and latest are refreshed from the refs at most every refresh_s seconds (at once after
// this mount made a snapshot). Thread-safe: mu_ guards the node table and the cached lists; it is a
// leaf lock, never held while objects are loaded or file content is read.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "vfs/inode_range.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/pieces.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class FileContent;

class VersionsView {
 public:
  static constexpr NodeId kBase = kVersionsBase;
  static constexpr NodeId kTop = kBase;  // .versions itself
  static constexpr const char* kName = kVersionsName;

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

  Result<EntryOut> LookupTop() EXCLUDES(mu_);
  Result<EntryOut> Lookup(NodeId parent, const std::string& name) EXCLUDES(mu_);
  Result<Attr> GetAttr(NodeId ino) EXCLUDES(mu_);
  Result<std::string> ReadLink(NodeId ino) EXCLUDES(mu_);
  Result<std::vector<DirEntry>> List(NodeId ino) EXCLUDES(mu_);  // ".", "..", then the entries
  Result<OpenOut> Open(NodeId ino) EXCLUDES(mu_);
  Status Read(NodeId ino, uint64_t offset, uint64_t size, PieceList* out) EXCLUDES(mu_);
  // The content of a file node (opened on first use).
  Result<std::shared_ptr<FileContent>> Content(NodeId ino) EXCLUDES(mu_);
  Result<Bytes> GetXattr(NodeId ino, const std::string& name) EXCLUDES(mu_);
  Result<std::vector<std::string>> ListXattr(NodeId ino) EXCLUDES(mu_);
  // The path a node had in its snapshot ("/" for a snapshot's root), or nullopt for the
  // listing nodes (.versions itself, ids/, tags/, by-time/, latest and their links).
  std::optional<std::string> PathInVersion(NodeId ino) const EXCLUDES(mu_);
  // True when parent is .versions/tags (where mkdir makes a tagged snapshot).
  bool IsTagsDir(NodeId parent) const { return parent == kTags; }
  // Lookup of the tag's directory in .versions/tags.
  Result<EntryOut> LookupTag(const std::string& tag) EXCLUDES(mu_) { return Lookup(kTags, tag); }
  // Forgets the cached snapshot and tag lists, so the next lookup sees new snapshots.
  void Invalidate() EXCLUDES(mu_);

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

  static Node NewNode(Kind kind);
  // The directory node of a snapshot's root.
  static Node SnapshotRootNode(const repo::SnapshotInfo& snap);
  Result<std::shared_ptr<const Lists>> CurrentLists() EXCLUDES(mu_);
  Attr AttrOf(NodeId ino, const Node& n) const;
  EntryOut EntryOf(NodeId ino, const Node& n, bool listing) const;
  // Lookups in .versions itself, in ids/ or tags/ (a snapshot's root), and in by-time/.
  Result<EntryOut> LookupFixed(const std::string& name) EXCLUDES(mu_);
  Result<EntryOut> LookupSnapshotRoot(NodeId parent, const std::string& name) EXCLUDES(mu_);
  Result<EntryOut> LookupByTime(const std::string& name) EXCLUDES(mu_);
  // The entry of parent's child name, made from node unless the known one still fits.
  EntryOut AddChild(NodeId parent, const std::string& name, Node node, bool listing) EXCLUDES(mu_);
  // Node for a child; created on first use.
  NodeId ChildLocked(NodeId parent, const std::string& name, Node node) REQUIRES(mu_);
  Result<const repo::SnapshotInfo*> FindSnapshot(const Lists& lists, const std::string& name) const;
  static std::string TimeName(int64_t ns);

  repo::Repository* repo_;
  Options options_;
  mutable Mutex mu_;
  std::unordered_map<NodeId, Node> nodes_ GUARDED_BY(mu_);
  std::map<std::pair<NodeId, std::string>, NodeId> by_name_ GUARDED_BY(mu_);
  NodeId next_ino_ GUARDED_BY(mu_) = kBase + 16;
  std::shared_ptr<const Lists> lists_ GUARDED_BY(mu_);
};

}  // namespace weightfs::vfs
