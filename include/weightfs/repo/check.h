// Verifying a repository (`weightfs check`) and measuring it (`weightfs stats`).
#pragma once

#include <string>
#include <vector>

#include "weightfs/repo/import_export.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

struct CheckOptions {
  bool read_data = false;  // open and authenticate every chunk, not only its presence and size
  ProgressFn progress;     // bytes of chunk data checked so far
};

struct CheckReport {
  std::vector<std::string> problems;  // one sentence each, naming object id and path
  uint64_t snapshots = 0;
  uint64_t trees = 0;
  uint64_t files = 0;
  uint64_t chunks = 0;
  uint64_t chunk_bytes = 0;  // plaintext bytes of distinct chunks
  // With scopes: what this slot could not check, for want of keys ("scope private (...)").
  std::vector<std::string> not_checked;
};

// Walks everything reachable from refs/main (live tree and every snapshot) and refs/tags, and
// verifies the config and key slots. Problems are collected, not returned as errors; an error
// Status means the check itself could not run.
Result<CheckReport> CheckRepository(const Repository& repo, const CheckOptions& options);

struct RepoStats {
  uint64_t snapshots = 0;
  uint64_t live_files = 0;
  uint64_t live_bytes = 0;     // logical size of the live tree
  uint64_t logical_bytes = 0;  // sum over every snapshot (and the live tree), without dedup
  uint64_t unique_bytes = 0;   // plaintext bytes of distinct chunks reachable
  uint64_t stored_bytes = 0;   // bytes of every object in the store
  uint64_t objects = 0;        // objects in the store
  double dedup_ratio = 0;      // logical_bytes / stored_bytes
  // With scopes: the slot could not open some snapshots (recorded before the repository had
  // scopes), so the figures but those of the store count only what it opens.
  bool partial = false;
};
Result<RepoStats> ComputeStats(const Repository& repo);

}  // namespace weightfs::repo
