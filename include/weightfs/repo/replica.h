// Replicas: copies of one repository in several stores (local directories, S3 buckets). A replica
// has the source's repository id, config and key slots, byte for byte, so it opens with the same
// passphrases and key files and its objects have the same ids and sealed bytes: copying an object
// is copying its bytes, never re-encrypting. Everything here speaks ObjectStore and Repository
// only, so local -> S3, S3 -> local and S3 -> S3 copies are the same code.
//
// A copy (CopyToReplica) transfers snapshots with their whole history, the policy history and,
// on request, tags:
//   1. decide: which snapshots to copy; refuse at once if the replica's refs diverged from them;
//   2. walk the source's reachable objects from them (gc's mark walk, repo/reachability.h);
//   3. list the replica's objects once and copy exactly the reachable ones it lacks, byte for
//      byte, `jobs` at a time (a remote store wants many requests in flight);
//   4. Sync the replica's objects, then move its refs (refs/policy, refs/tags, refs/main, in that
//      order, each a compare-and-swap through RefUpdater).
// Killed at any point, a copy leaves the replica's refs as they were (or moved to fully copied
// snapshots), and a rerun copies only what is still missing.
//
// Thread-safety: free functions over thread-safe Repositories; the progress callback is called
// from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/repository.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

// Makes dst an empty replica of src: the same config and key slots, byte for byte, nothing else
// (the replica's empty live tree is written when it is first opened). src is open, so its config
// was authenticated by the slot that unlocked it. kAlreadyExists when dst holds a config, key
// slots, refs or objects.
Status InitReplica(const Repository& src, storage::ObjectStore* dst);

// Checks, before dst is unlocked, that it is a replica of src: kNotFound when dst holds no
// repository, kInvalidArgument when it holds another one (another repository id); both say to
// create the replica with `weightfs init DST --replica-of SRC`. The id read here is not
// authenticated: CopyToReplica compares the ids of the opened repositories again.
Status CheckIsReplica(const Repository& src, storage::ObjectStore* dst);

struct CopyOptions {
  // Versions to copy (as ResolveVersion takes them: "latest", a tag, an id prefix), each with
  // its whole history. Empty: the source's main head and its history. The replica's main moves
  // to the newest of them (highest sequence number); every other one must be its ancestor.
  std::vector<std::string> versions;
  // Also copy every tag of the source (with the snapshots they name and their history). A tag
  // the replica has under the same name pointing elsewhere is refused; the replica's own other
  // tags stay.
  bool tags = false;
  int jobs = 8;  // objects copied at a time, >= 1
};

struct CopyProgress {
  uint64_t objects_done = 0, objects_total = 0;  // objects to copy (the missing ones)
  uint64_t bytes_done = 0, bytes_total = 0;
};
// Called from the calling thread, often (about every 100 ms while objects are copied, and once
// at the end of the object phase).
using CopyProgressFn = std::function<void(const CopyProgress&)>;

struct CopyReport {
  uint64_t reachable_objects = 0;  // what the copied versions reach in the source
  uint64_t present_objects = 0;    // of those, already in the replica
  uint64_t copied_objects = 0;
  uint64_t copied_bytes = 0;
  std::optional<SnapshotInfo> head;  // the replica's main head afterwards
  bool main_moved = false;           // refs/main changed
  bool policy_moved = false;         // refs/policy changed
  int tags_added = 0;                // tags added to the replica (or already equal: not counted)
};

// Copies versions of src into its replica dst (see the top of this file). Refuses:
//   kInvalidArgument  different repository ids (not replicas), a version that is not an ancestor
//                     of the newest one, jobs < 1;
//   kConflict         the replica's history diverged: its main head is not an ancestor of (or
//                     equal to) what is copied, its live tree has changes in no snapshot, its
//                     refs/policy is not an ancestor of the source's, or a tag differs.
// Both repositories must have been opened with a slot that may write (refs are sealed anew).
Result<CopyReport> CopyToReplica(Repository* src, Repository* dst, const CopyOptions& options,
                                 const CopyProgressFn& progress);

}  // namespace weightfs::repo
