// The in-memory node of the live tree, shared by the FileSystem's source files.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "vfs/file_content.h"
#include "vfs/versions.h"
#include "weightfs/repo/objects.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

// Every field is guarded by FileSystem::tree_mu_, except what FileContent guards itself.
struct FileSystem::Node {
  NodeId ino = 0;
  repo::EntryType type = repo::EntryType::kFile;
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t atime_ns = 0;
  std::map<std::string, Bytes> xattrs;

  Node* parent = nullptr;  // nullptr for the root and for unlinked nodes
  std::string name;
  bool linked = true;
  uint64_t nlookup = 0;    // the kernel's references
  int open_count = 0;

  // Directory: children load lazily from tree_id.
  bool loaded = false;
  bool dirty = false;      // its tree object must be rebuilt
  std::optional<ObjectId> tree_id;
  std::map<std::string, NodeId> children;

  // Symlink.
  std::string target;

  // File. content loads on first open; until then size comes from the tree entry.
  std::shared_ptr<FileContent> content;
  uint64_t stored_size = 0;
  // The committed view: the file object as of the last close/fsync (none: never closed).
  std::optional<ObjectId> file_id;
  uint64_t committed_size = 0;
  uint64_t sealed_version = 0;

  uint64_t size() const {
    if (type == repo::EntryType::kSymlink) return target.size();
    if (type == repo::EntryType::kDirectory) return 0;
    return content ? content->size() : stored_size;
  }
};

struct FileSystem::DirHandle {
  std::vector<std::pair<std::string, NodeId>> entries;  // ".", "..", then children by name
  std::vector<DirEntry> fixed;  // a .versions directory: its listing, taken at opendir
};

}  // namespace weightfs::vfs
