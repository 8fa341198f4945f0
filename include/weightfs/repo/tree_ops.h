// Path-level operations on immutable trees: look a path up, put an entry at a path (creating
// missing directories), walk a tree. Every change writes new tree objects up to a new root.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

// Splits a repository path ("/a/b", "a/b/", "/") into validated components. Rejects "." and
// ".." components and NUL; empty components (doubled slashes) are skipped.
Result<std::vector<std::string>> SplitPath(const std::string& path);
std::string JoinPath(const std::vector<std::string>& components);  // "/a/b", "/" for none

// The entry at path below root (a synthetic directory entry for the root itself).
Result<TreeEntry> LookupPath(const Repository& repo, const ObjectId& root, const std::string& path);

// Returns a new root where path holds entry (entry.name is set from the path). Missing parent
// directories are created; a non-directory in the way is kNotDirectory. An empty path replaces
// the root itself (entry must be a directory) and returns entry.id.
Result<ObjectId> PutAtPath(Repository* repo, const ObjectId& root,
                           const std::vector<std::string>& path, TreeEntry entry);

// Depth-first, entries in name order; fn gets the path ("/a/b") and entry. Returning an error
// stops the walk.
Status WalkTree(const Repository& repo, const ObjectId& root, const std::string& prefix,
                const std::function<Status(const std::string& path, const TreeEntry& entry)>& fn);

}  // namespace weightfs::repo
