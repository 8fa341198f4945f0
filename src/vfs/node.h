// Node: one node of the live tree in memory, owned by the NodeTable (node_table.h).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vfs/file_content.h"
#include "vfs/posix.h"
#include "weightfs/repo/objects.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

// Every field is guarded by the NodeTable's mutex (which the analysis cannot name here), except
// what FileContent guards itself.
struct Node {
  NodeId ino = 0;
  repo::EntryType type = repo::EntryType::kFile;
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t atime_ns = 0;
  std::map<std::string, Bytes> xattrs;
  // Owner and group; has_owner false: none stored (an entry from before owners were stored, or
  // imported without them), showing the mounting user, and written back without one.
  bool has_owner = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;  // device nodes

  Node* parent = nullptr;  // nullptr for the root and for unlinked nodes
  std::string name;
  bool linked = true;
  // Hard links (non-directories): the names beside (parent, name), and the group id its names
  // share in the tree (repo::TreeEntry::link_group; 0 until it first gets a second name).
  std::vector<std::pair<Node*, std::string>> more_links;
  uint64_t link_group = 0;
  uint64_t nlookup = 0;  // the kernel's references
  int open_count = 0;

  // Directory: children load lazily from tree_id.
  bool loaded = false;
  bool dirty = false;  // its tree object must be rebuilt
  std::optional<ObjectId> tree_id;
  std::map<std::string, NodeId> children;
  // The link count is 2 + the subdirectories: counted in children once loaded (kept up to date
  // by every change to children), counted from the tree object before (unknown: nlink 1, "not
  // counted", until a lookup or getattr counts it).
  uint32_t subdirs = 0;
  std::optional<uint32_t> unloaded_subdirs;

  // Symlink.
  std::string target;

  // File. content loads on first open; until then size comes from the tree entry.
  std::shared_ptr<FileContent> content;
  uint64_t stored_size = 0;
  uint64_t stored_hole_bytes = 0;  // with stored_size: the holes of the file object, for st_blocks
  // The committed view: the file object as of the last close/fsync (none: never closed).
  std::optional<ObjectId> file_id;
  uint64_t committed_size = 0;
  uint64_t committed_hole_bytes = 0;
  uint64_t sealed_version = 0;

  uint64_t size() const {
    if (type == repo::EntryType::kSymlink) return target.size();
    if (type == repo::EntryType::kDirectory) return 0;
    return content ? content->size() : stored_size;
  }
  uint64_t hole_bytes() const {
    if (type != repo::EntryType::kFile) return 0;
    return content ? content->hole_bytes() : stored_hole_bytes;
  }
  Owned owned() const { return Owned{uid, gid, mode, type == repo::EntryType::kDirectory}; }
  uint32_t nlink_names() const { return linked ? 1 + static_cast<uint32_t>(more_links.size()) : 0; }
  bool HasLink(const Node* dir, const std::string& n) const {
    if (!linked) return false;
    if (parent == dir && name == n) return true;
    for (const auto& [d, other] : more_links) {
      if (d == dir && other == n) return true;
    }
    return false;
  }
  std::optional<uint32_t> nlink_subdirs() const {
    if (loaded) return subdirs;
    return unloaded_subdirs;
  }
};

}  // namespace weightfs::vfs
