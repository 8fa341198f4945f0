// Copying between a local directory tree and a repository: import (local -> new tree objects)
// and export (a stored tree -> local files). Regular files, directories, symlinks, FIFOs,
// sockets, device nodes and hard links are copied with their permission bits, mtimes and user.*
// extended attributes (owners too, as root).
#pragma once

#include <functional>
#include <string>

#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

// Called with the bytes done so far (for progress bars). May be empty.
using ProgressFn = std::function<void(uint64_t bytes_done)>;

struct ImportStats {
  uint64_t files = 0;
  uint64_t bytes = 0;      // logical bytes read
  uint64_t new_bytes = 0;  // chunk bytes that were not already stored
};

// Imports src (a file or a directory) into new objects and returns its tree entry (name
// unset). dest is where it is going in the repository (a normalized path: its scope's keys seal
// it). Objects are not synced.
Result<TreeEntry> ImportPath(Repository* repo, const std::string& src, const std::string& dest,
                             ImportStats* stats, const ProgressFn& progress);

// Total size of the regular files below src (for progress bars).
Result<uint64_t> LocalSize(const std::string& src);

// Writes entry (a file, directory or symlink) to dest. For a directory, dest is created if
// missing and its contents are written into it; existing files are replaced.
Status ExportEntry(const Repository& repo, const TreeEntry& entry, const std::string& dest,
                   const ProgressFn& progress, uint64_t* bytes_done);

}  // namespace weightfs::repo
