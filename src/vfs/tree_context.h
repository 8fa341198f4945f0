// TreeContext: the parts of a mount that both trees (LiveTree, VersionsTree) work with. Owned by
// FileSystem, which outlives both trees; every pointer stays valid for their lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "vfs/authorizer.h"
#include "vfs/committer.h"
#include "vfs/dir_handles.h"
#include "vfs/inode_range.h"
#include "vfs/node_table.h"
#include "vfs/snapshot_scheduler.h"
#include "vfs/versions.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

struct TreeContext {
  repo::Repository* repo = nullptr;
  const FsOptions* options = nullptr;
  InodeRouter router{false};
  NodeTable* table = nullptr;
  Committer* committer = nullptr;
  SnapshotScheduler* snapshots = nullptr;
  Authorizer* auth = nullptr;
  DirHandles* dir_handles = nullptr;
  VersionsView* versions = nullptr;  // null when the mount has no .versions view
  repo::ChunkReader* reader = nullptr;
  ThreadPool* write_pool = nullptr;
  std::atomic<int64_t>* dirty_bytes = nullptr;  // dirty bytes of every live file

  void Log(const std::string& line) const {
    if (options->log) options->log(line);
  }
};

}  // namespace weightfs::vfs
