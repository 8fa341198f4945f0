// The offline history tools: offline snapshots and tags, which snapshots touched a path, the
// difference between two versions (down to the tensors of safetensors files), restoring an old
// version into the live tree, forgetting snapshots by a retention policy, and garbage
// collection of objects that no ref reaches any more. The CLI (`weightfs snapshot`, `tag`,
// `log PATH`, `diff`, `restore`, `forget`, `gc`) is a thin layer over these functions.
//
// Versions are named as everywhere else: "latest", a tag, a snapshot id or a unique prefix of
// >= 8 hex digits, and where a tree (not a snapshot) is enough also "live": the working tree in
// refs/main.
//
// History is never rewritten except by Forget, and Forget only drops snapshots: every kept
// snapshot keeps its root tree, time, author and message.
//
// Sequence numbers after Forget (a deliberate choice): the kept snapshots are written anew with
// re-linked parents, and the new head gets the old head's sequence number + 1, the kept ones
// before it the consecutive numbers below (so k kept snapshots of a chain whose head was #n get
// #n-k+2 .. #n+1, and the oldest of them has no parent). Numbers therefore never go backwards:
// a machine that remembers "last seen sequence #n" (rollback detection) sees the forgotten
// repository as newer, never as rolled back. The price: after a forget, the chain no longer
// starts at #1, and a snapshot's number is not its position in the chain.
//
// Thread-safety: free functions over a thread-safe Repository; refs are replaced through
// RefUpdater (compare-and-swap, retried on the new value), so they may run alongside a live
// mount, except where noted.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

// --- versions and tags ---

// A version resolved to its root tree; snapshot is unset for "live".
struct ResolvedVersion {
  ObjectId root;
  std::optional<SnapshotInfo> snapshot;
  std::string label;  // "live" or the first 16 hex digits of the snapshot id
};
Result<ResolvedVersion> ResolveVersionOrLive(const Repository& repo, const std::string& version);

// A tag name: 1-128 characters of [A-Za-z0-9._-], not starting with '.' or '-', not only hex
// digits when 8 or more long (it could be mistaken for a snapshot id), and not "latest" or
// "live". kInvalidArgument with the reason otherwise.
Status ValidateTagName(const std::string& name);

// Points tag name at snapshot (RefUpdater::UpdateTags). kAlreadyExists when the tag exists
// and points elsewhere, unless force. The snapshot must exist.
Status SetTag(Repository* repo, const std::string& name, const ObjectId& snapshot, bool force);
// kNotFound when there is no such tag.
Status DeleteTag(Repository* repo, const std::string& name);

// Records a snapshot of the live tree as it is (an unchanged tree is recorded again, as the same
// root). With a tag, the name is validated and checked for duplicates before anything is
// written; the tag is set after the snapshot is published.
struct SnapshotOptions {
  std::string message;
  std::string tag;         // empty: none
  bool force_tag = false;  // move an existing tag
};
Result<SnapshotInfo> SnapshotLive(Repository* repo, const SnapshotOptions& options);

// --- log PATH ---

// The snapshots, newest first, in which the entry at path differs from the one in the parent
// snapshot (content, type, mode, mtime, xattrs), including those in which it appeared or
// disappeared. The oldest snapshot of the chain has nothing to compare with: it counts when the
// path exists in it. Path "/" gives every snapshot whose root differs from its parent's.
Result<std::vector<SnapshotInfo>> SnapshotsTouching(const Repository& repo,
                                                    const std::string& path);

// --- diff ---

enum class ChangeKind : uint8_t {
  kAdded,
  kRemoved,
  kModified,     // content changed (and maybe metadata too)
  kTypeChanged,  // e.g. a file became a directory; the new entries below follow as added
  kMetadata,     // same content; mode, mtime or extended attributes changed
};
const char* ChangeKindName(ChangeKind kind);  // "added", "removed", ...

enum class TensorChangeKind : uint8_t {
  kAdded,
  kRemoved,
  kLayout,   // dtype or shape changed
  kContent,  // same dtype and shape, different bytes
};
const char* TensorChangeKindName(TensorChangeKind kind);  // "added", "removed", "layout", "content"

struct TensorChange {
  std::string name;
  TensorChangeKind kind = TensorChangeKind::kContent;
  std::string old_dtype, new_dtype;  // empty where the tensor is absent
  std::vector<uint64_t> old_shape, new_shape;
  uint64_t old_bytes = 0, new_bytes = 0;
};

struct FileChange {
  std::string path;  // "/a/b"
  ChangeKind kind = ChangeKind::kModified;
  std::optional<EntryType> old_type, new_type;  // unset where the entry is absent
  uint64_t old_size = 0, new_size = 0;
  // Set for a modified file that is safetensors in both versions.
  bool safetensors = false;
  bool header_changed = false;        // the header bytes differ (also metadata-only changes)
  std::vector<TensorChange> tensors;  // in name order
};

struct DiffOptions {
  bool tensors = true;  // look into safetensors headers of modified files
};

// Changes from root a to root b below path ("/" for everything), in path order. Unchanged
// subtrees are skipped by id, so the cost follows the size of the change. Tensor contents are
// compared by the chunk ids covering each tensor (no chunk is decrypted, only headers), which is
// exact because chunks are cut at tensor boundaries; where a file was chunked without those cuts
// the covering chunks are compared and, only if they differ, the bytes.
Result<std::vector<FileChange>> DiffTrees(const Repository& repo, const ObjectId& a,
                                          const ObjectId& b, const std::string& path,
                                          const DiffOptions& options = {});

// --- restore ---

// Puts the entry at path of version back into the live tree (path "/" replaces the whole live
// tree) and records a snapshot with message "restore PATH from <id>". History is not rewritten:
// the restore is a new change on top. kNotFound when path does not exist in version.
// A read-write mount would overwrite the live tree with its own on its next commit: callers
// hold the writer lock (the CLI does).
Result<SnapshotInfo> RestoreToLive(Repository* repo, const std::string& version,
                                   const std::string& path);

// --- forget ---

struct ForgetPolicy {
  int keep_last = 0;    // the newest N snapshots
  int keep_daily = 0;   // the newest snapshot of each of the last N days (UTC) that have one
  int keep_weekly = 0;  // the newest snapshot of each of the last N ISO weeks (UTC) that have one
  bool keep_tagged = false;  // snapshots a tag points to (else such tags are removed)
  bool Empty() const {
    return keep_last == 0 && keep_daily == 0 && keep_weekly == 0 && !keep_tagged;
  }
};

struct ForgetDecision {
  SnapshotInfo snapshot;  // as it was before the forget
  bool keep = false;
  std::vector<std::string>
      reasons;  // "head", "last", "daily 2026-11-29", "weekly 2026-W48", "tagged v1"
  std::vector<std::string> tags;  // tags pointing at it
};

struct ForgetResult {
  std::vector<ForgetDecision> decisions;  // newest first
  std::map<ObjectId, ObjectId> renamed;   // old snapshot id -> its rewritten copy
  std::vector<std::string> removed_tags;  // tags of forgotten snapshots
  std::optional<SnapshotInfo> new_head;   // unset when nothing was forgotten or dry run
  size_t kept() const;
  size_t forgotten() const;
};

// Applies policy to the snapshot chain (the head is always kept). Unless dry_run, writes the kept
// snapshots anew (see the header comment for sequence numbers), replaces refs/main's head (its
// live tree untouched; retried from scratch if refs/main changes meanwhile), then remaps tags of
// kept snapshots and removes tags of forgotten ones. Nothing is deleted: run CollectGarbage.
// kInvalidArgument for an empty policy. A repository with nothing to forget is left alone.
Result<ForgetResult> Forget(Repository* repo, const ForgetPolicy& policy, bool dry_run);

// --- gc ---

inline constexpr int64_t kDefaultGcGraceSeconds = 24 * 3600;
// Below this grace, gc refuses to run next to a read-write mount unless forced.
inline constexpr int64_t kMinGraceWithMountSeconds = 3600;

struct GcOptions {
  // Unreachable objects modified within the grace period are kept: a live mount stores chunks
  // and trees before it publishes the ref naming them, so young unreachable objects may be about
  // to become reachable. 0 deletes everything unreachable.
  int64_t grace_seconds = kDefaultGcGraceSeconds;
  bool dry_run = false;
  // Run with a short grace although a read-write mount holds the writer lock.
  bool force = false;
  // "Now" in seconds since the epoch (tests); unset: the system clock.
  std::optional<int64_t> now_seconds;
  // Snapshots kept with their ancestors although no ref names them (those that tags named before
  // refs/tags was lost or rolled back, as this machine remembers them; see local_state.h).
  // Missing ones are skipped.
  std::vector<ObjectId> keep_snapshots;
};

struct GcReport {
  uint64_t objects = 0, bytes = 0;  // in the store before gc
  uint64_t reachable_objects = 0, reachable_bytes = 0;
  uint64_t unreachable_objects = 0, unreachable_bytes = 0;
  uint64_t young_objects = 0, young_bytes = 0;      // unreachable but within the grace period
  uint64_t deleted_objects = 0, deleted_bytes = 0;  // what was (dry run: would be) deleted
  std::string note;                                 // e.g. a stale writer lock was taken over
  uint64_t leases = 0;          // live leases of other writers and read-only mounts honoured
  uint64_t leased_objects = 0;  // unreachable objects kept because a live lease protects them
  uint64_t kept_snapshots = 0;  // of options.keep_snapshots, those still stored (kept)
};

// Mark and sweep. Marks every object reachable from refs/main (live tree, every snapshot of the
// chain and their policies) and refs/tags (their snapshots and parent chains), reading trees and
// file objects but no chunk. Any error while marking aborts before anything is deleted.
// Concurrent writers and readers (leases.h): gc takes the gc lock, reads the live leases, then
// reads the refs again and marks anything they reach now (a concurrent commit or tag) and the
// roots of read leases (trees served by --read-only mounts); an unreachable object is kept when
// it is younger than the grace period or not older than the start of a live write lease (less
// kLeaseClockSlackSeconds), whatever the grace. So a grace of 0 deletes everything unreachable
// that no running writer may still publish. While it runs, gc also holds the writer lock when it
// is free (so no read-write mount starts meanwhile); when a live mount holds it and the grace is
// below kMinGraceWithMountSeconds, gc refuses with kBusy unless options.force (the mount's lease
// then protects what it writes).
//
// Reused objects: a writer that finds an object it would write already stored (dedup) touches
// it, renewing its modification time (ObjectLayer::PutObjectWithId, ChunkSink), so the grace
// period and the writer's lease protect a reused object exactly as one just written; one that gc
// deleted between the writer's check and its touch is stored again. Known limit: an old
// unreachable object that a writer reuses between gc's reading its modification time and
// deleting it is deleted all the same; the writer's publication then names a missing object
// (reported by check).
Result<GcReport> CollectGarbage(Repository* repo, const GcOptions& options);

// Parses a grace duration: "0", or a number with a unit s, m, h, d or w ("30m", "2h", "7d").
Result<int64_t> ParseDurationSeconds(const std::string& text);

}  // namespace weightfs::repo
