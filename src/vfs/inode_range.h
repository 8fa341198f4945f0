// How a mount's inode numbers are divided between its two trees: the live tree numbers its
// nodes from kRootNode up, the read-only `.versions/` view from kVersionsBase up. InodeRouter
// says, from the numbers alone, which tree serves a request; FileSystem asks it once per request
// and hands the request to that tree (tree.h), so no operation tests for `.versions` itself.
// Thread-safe (immutable).
#pragma once

#include <string>

#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

inline constexpr NodeId kVersionsBase = NodeId{1} << 48;
inline constexpr const char* kVersionsName = ".versions";

enum class NodeSpace { kLive, kVersions };

class InodeRouter {
 public:
  // versions_enabled false: there is no .versions view and every request goes to the live tree.
  explicit InodeRouter(bool versions_enabled) : versions_enabled_(versions_enabled) {}

  bool versions_enabled() const { return versions_enabled_; }
  // The tree of node ino.
  NodeSpace SpaceOf(NodeId ino) const {
    return versions_enabled_ && ino >= kVersionsBase ? NodeSpace::kVersions : NodeSpace::kLive;
  }
  // The tree of the entry name in directory parent: `.versions` in the root is the view's top.
  NodeSpace SpaceOfChild(NodeId parent, const std::string& name) const {
    if (versions_enabled_ && parent == kRootNode && name == kVersionsName)
      return NodeSpace::kVersions;
    return SpaceOf(parent);
  }

 private:
  bool versions_enabled_;
};

}  // namespace weightfs::vfs
