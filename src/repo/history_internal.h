// Helpers shared by the history_*.cc files (not part of the repo module's interface).
#pragma once

#include <optional>
#include <string>

#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo::history_internal {

// The entry at path below root, or nullopt when it does not exist there (also when a component
// on the way is not a directory). Other errors (unreadable objects) are returned.
inline Result<std::optional<TreeEntry>> FindEntry(const Repository& repo, const ObjectId& root,
                                                  const std::string& path) {
  auto entry = LookupPath(repo, root, path);
  if (entry.ok()) return std::optional<TreeEntry>(std::move(entry).value());
  const Code code = entry.status().code();
  if (code == Code::kNotFound || code == Code::kNotDirectory) return std::optional<TreeEntry>();
  return entry.status();
}

}  // namespace weightfs::repo::history_internal
