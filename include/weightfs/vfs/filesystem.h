// FileSystem: a mounted repository as the VFS core's request interface, in its own types (no
// FUSE). The FUSE adapter calls one method per request; each hands the request to the tree that
// serves it (chosen by inode number: the live tree, or the read-only .versions/ view) and the
// parts below do the work:
//   NodeTable          the live tree's nodes, loaded lazily from tree objects
//   LiveTree           requests on the live tree (namespace, files, attributes, xattrs)
//   VersionsTree       requests on .versions/ (VersionsView: snapshots, read-only)
//   Committer          sealing closed files and committing the live tree to refs/main
//   SnapshotScheduler  snapshots on request and periodic ones
//   Authorizer         the policy's decisions (AccessControl), in terms of paths
// A file's "committed view" is its content as of its last close or fsync; commits write the
// committed views and the changed directories as new objects and replace refs/main's live tree
// atomically, so a file that was being written when the daemon died is either whole (as of its
// last close/fsync) or absent, never torn.
//
// It keeps one public method per FUSE operation (more than 25): that is the contract the adapter
// is written against; each is a few lines that delegate.
//
// Thread-safe. Lock order (outermost first): the Committer's commit lock, the NodeTable's
// mutex, a FileContent's locks; AccessControl's and VersionsView's locks are leaves. The
// NodeTable's mutex is never held while file content is read, written or sealed, nor while the
// policy decides (AccessControl may resolve names through NSS).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/core/periodic.h"
#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class AccessControl;
class Authorizer;
class Committer;
class DirHandles;
class LiveTree;
class NodeTable;
class SnapshotScheduler;
class Tree;
struct TreeContext;
class VersionsTree;
class VersionsView;

// Setting this xattr on .versions or on any directory of the live tree records a snapshot of the
// mount; the value is "TAG\nMESSAGE" (`weightfs snapshot DIR [--tag T] [-m M]` does that). The
// policy's `snapshot` capability is checked on that directory (on / for .versions).
inline constexpr const char* kSnapshotXattr = "user.weightfs.snapshot";

// What the kernel may have cached and must forget: (parent, name) entries, and nodes whose
// attributes changed.
struct KernelNames {
  std::vector<std::pair<NodeId, std::string>> entries;
  std::vector<NodeId> nodes;
};

struct FsOptions {
  bool read_only = false;
  double commit_interval_s = 1.0;    // batch commits of closed files and metadata changes
  int64_t dirty_budget = 256 << 20;  // dirty bytes held in memory before sealing early
  // Decrypted chunks kept for readers and loaded ahead of them; the dirty bytes of writes count
  // against it too (the mount passes --cache-size for both).
  int64_t read_cache = 256 << 20;
  int read_threads = 4;  // workers loading chunks ahead of readers
  double entry_timeout_s = 1.0;
  double attr_timeout_s = 1.0;
  uint32_t uid = 0;  // owner shown for nodes that record none (and the root)
  uint32_t gid = 0;
  // Enforce mode bits (owner/group/other, sticky and setgid directories, chown/chmod/utimens
  // rules) on every request, together with the policy: both must allow. Off: only the policy
  // decides (mode bits are stored and shown).
  bool mode_check = false;
  std::function<Result<StatFsOut>()> statfs;    // space of the storage under the repository
  std::function<void(const std::string&)> log;  // one line per notable event (errors, commits)
  // The .versions/ directory: hidden from the root's listing but reachable by name, listed, or
  // absent.
  enum class VersionsDir { kHidden, kVisible, kDisabled } versions_dir = VersionsDir::kHidden;
  double versions_refresh_s = 2.0;  // how soon snapshots made elsewhere appear in .versions/
  double snapshot_interval_s = 0;   // periodic snapshots of changed trees; 0: none
  // Read-only mounts: how often refs/main is read for a live tree another writer committed,
  // which then replaces the one served (RefreshLiveTree); 0: never.
  double live_refresh_s = 0;
  // Tells the kernel to forget what a refresh changed (the mount's session); may be empty.
  std::function<void(const KernelNames&)> invalidate;
  // Decides every request against the policy; null: every caller may do everything.
  // On a shared mount (per-caller decisions) a path whose list/read decision differs between
  // callers gets entry and attribute timeouts 0 (the kernel would otherwise reuse one caller's
  // lookup for another); the timeouts above apply to the rest (AccessControl::SameForEveryCaller).
  std::shared_ptr<AccessControl> access;
};

class FileSystem {
 public:
  // Loads the live tree from refs/main.
  static Result<std::unique_ptr<FileSystem>> Create(repo::Repository* repo, FsOptions options);
  ~FileSystem();

  // Starts the background commit thread (call after any fork).
  void Start();
  // Stops the commit thread, seals and commits everything. Idempotent once it succeeded; after a
  // failure (e.g. no space) nothing is dropped and calling it again retries the seals and the
  // commit, so a caller can keep every closed file until its commit succeeds.
  Status Shutdown();

  Result<EntryOut> Lookup(const Caller& c, NodeId parent, const std::string& name);
  void Forget(NodeId ino, uint64_t nlookup);
  // attr_timeout (when not null): how long the kernel may keep the attributes.
  Result<Attr> GetAttr(const Caller& c, NodeId ino, double* attr_timeout = nullptr);
  Result<Attr> SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                       double* attr_timeout = nullptr);
  Result<std::string> ReadLink(const Caller& c, NodeId ino);
  Result<EntryOut> Mkdir(const Caller& c, NodeId parent, const std::string& name, uint32_t mode);
  Result<EntryOut> Symlink(const Caller& c, NodeId parent, const std::string& name,
                           const std::string& target);
  Status Unlink(const Caller& c, NodeId parent, const std::string& name);
  Status Rmdir(const Caller& c, NodeId parent, const std::string& name);
  // link(2): a second name new_parent/new_name for the non-directory ino (kNotPermitted for a
  // directory). Needs `read` on the file and `create` on the new name, so that a link never
  // reaches what the policy hides.
  Result<EntryOut> Link(const Caller& c, NodeId ino, NodeId new_parent,
                        const std::string& new_name);
  // mknod(2) of a regular file (empty, committed like a closed one), FIFO, socket or device
  // node (rdev for devices). Device nodes only for root (kNotPermitted).
  Result<EntryOut> Mknod(const Caller& c, NodeId parent, const std::string& name, NodeType type,
                         uint32_t mode, uint64_t rdev);
  // flags: kRenameNoReplace; anything else is kInvalidArgument.
  static constexpr uint32_t kRenameNoReplace = 1;
  Status Rename(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                const std::string& new_name, uint32_t flags);

  // Files. write: opened for writing; truncate: O_TRUNC.
  // read: opened for reading too (matters when name exists and is opened instead).
  Result<std::pair<EntryOut, OpenOut>> Create(const Caller& c, NodeId parent,
                                              const std::string& name, uint32_t mode,
                                              bool exclusive, bool read = true);
  // read: opened for reading too (O_RDONLY or O_RDWR).
  Result<OpenOut> Open(const Caller& c, NodeId ino, bool write, bool truncate, bool read = true);
  // Appends views of the bytes read to *out (short only at end of file): the reply is sent from
  // the buffers the data was decrypted into.
  Status Read(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset, uint64_t size,
              PieceList* out);
  // The same, copied into one buffer.
  Result<Bytes> Read(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset, uint64_t size);
  Result<uint64_t> Write(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset,
                         ByteView data);
  // Called on every close(): seals the file's dirty data and makes it the committed view.
  Status Flush(const Caller& c, NodeId ino, uint64_t handle);
  Status Release(NodeId ino, uint64_t handle);
  // Seals the file and commits the live tree before returning.
  Status Fsync(const Caller& c, NodeId ino);
  Status Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length);
  // lseek(2) with SEEK_DATA (hole false) or SEEK_HOLE (hole true) on an open file: the first
  // offset >= offset that is data, or in a hole (the end of the file counts as one); nullopt
  // when there is none (ENXIO).
  Result<std::optional<uint64_t>> SeekDataOrHole(const Caller& c, NodeId ino, uint64_t offset,
                                                 bool hole);

  // Directories.
  Result<uint64_t> OpenDir(const Caller& c, NodeId ino);
  // The entries from index offset on (offset 0 is "."), at most max_entries of them (the
  // adapter passes what fits the kernel's buffer).
  Result<std::vector<DirEntry>> ReadDir(const Caller& c, NodeId ino, uint64_t handle,
                                        uint64_t offset, size_t max_entries = SIZE_MAX);
  Status ReleaseDir(NodeId ino, uint64_t handle);
  Status FsyncDir(const Caller& c, NodeId ino);

  // Extended attributes (user.* only).
  Result<Bytes> GetXattr(const Caller& c, NodeId ino, const std::string& name);
  Status SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                  bool create_only, bool replace_only);
  Result<std::vector<std::string>> ListXattr(const Caller& c, NodeId ino);
  Status RemoveXattr(const Caller& c, NodeId ino, const std::string& name);

  Result<StatFsOut> StatFs(const Caller& c);

  // access(2): whether c may read, write or search/execute the node (all false: whether it
  // exists for c), as the policy decides. A directory's read and search are `list`, its write is
  // `create` on it; a file's read and execute are `read`, its write `update`.
  Status Access(const Caller& c, NodeId ino, bool read, bool write, bool exec);

  // Writes the committed views of changed files and the changed directories, then replaces
  // the live tree in refs/main. No-op when nothing changed.
  Status Commit();

  bool read_only() const { return options_.read_only; }
  // True for nodes of the read-only .versions/ tree (and .versions itself).
  bool InVersions(NodeId ino) const;
  // What the kernel may have cached (to invalidate after a policy change): the names below the
  // root, and on a shared mount every (parent, name) entry and node the kernel holds a reference
  // to (those may have been cached for everybody under the old policy).
  using KernelNames = vfs::KernelNames;
  KernelNames CachedByKernel() const;
  // The (parent, name) entry of a live node; nullopt for the root, unlinked or .versions nodes.
  // A directory whose mode or owner changed is invalidated there, so that the kernel forgets
  // the names below it that other users looked up (their search permission may have changed).
  std::optional<std::pair<NodeId, std::string>> EntryNameOf(NodeId ino) const;

  // Commits the live tree and records a snapshot of it (tagged unless tag is empty). Data still
  // buffered in files that are open and were not closed or fsynced since their last write is
  // not part of it: a snapshot holds every file as of its last close or fsync.
  Result<repo::SnapshotInfo> MakeSnapshot(const std::string& message, const std::string& tag);

  // Read-only mounts: serves the live tree rooted at root_id from now on (what another writer
  // committed; see NodeTable::Refresh for what stays and what is replaced) and returns what the
  // kernel must forget. kNotPermitted on a read-write mount, whose own tree is the newest.
  Result<KernelNames> RefreshLiveTree(const ObjectId& root_id);
  // Reads refs/main and refreshes when its live root changed (to a newer generation); true
  // when it did. With a read lease set, the lease names the new tree before it is served.
  Result<bool> RefreshFromMain();
  // The read-only mount's gc lease (not owned; outlives the file system's Shutdown) and the
  // trees it names now. A refresh adds the new tree to the lease, which names the last
  // kLeasedRoots trees served: a file open across more refreshes than that may lose its data
  // to a gc if another writer deleted it meanwhile.
  void SetReadLease(repo::Lease* lease, std::vector<ObjectId> roots);
  static constexpr size_t kLeasedRoots = 8;

 private:
  explicit FileSystem(FsOptions options);
  // Builds the parts below it, for the live tree whose root is root_tree (stored as root_id).
  void Init(repo::Repository* repo, const ObjectId& root_id, const repo::TreeObject& root_tree);
  // The tree that serves a request on ino; on the entry name in parent; on both (link, rename:
  // the .versions view, which refuses, when either is in it).
  Tree& TreeOf(NodeId ino);
  Tree& TreeOfChild(NodeId parent, const std::string& name);
  Tree& TreeOfEither(bool first_in_versions, NodeId parent, const std::string& name);
  void Log(const std::string& line) const;
  // RefreshFromMain's steps: whether main is newer than what is served; serving it.
  bool IsNewer(const repo::MainRef& main) EXCLUDES(refresh_mu_);
  Status ApplyMain(const repo::MainRef& main) EXCLUDES(refresh_mu_);

  FsOptions options_;
  std::atomic<int64_t> dirty_bytes_{0};  // dirty bytes of every open file, for the budget
  // Hashes, seals and stores written chunks for every file (the write pipeline), and the reads'
  // cache and read-ahead workers. Declared before the nodes, so both outlive every FileContent.
  std::unique_ptr<ThreadPool> write_pool_;
  std::unique_ptr<repo::ChunkReader> reader_;
  std::unique_ptr<NodeTable> table_;
  std::unique_ptr<VersionsView> versions_;  // null when disabled
  std::unique_ptr<Committer> committer_;
  std::unique_ptr<SnapshotScheduler> snapshots_;
  std::unique_ptr<Authorizer> auth_;
  std::unique_ptr<DirHandles> dir_handles_;
  std::unique_ptr<TreeContext> ctx_;
  std::unique_ptr<LiveTree> live_;
  std::unique_ptr<VersionsTree> versions_tree_;  // null when disabled
  // The live root served (refreshes change it on a read-only mount); refresh_mu_ keeps one
  // refresh at a time.
  Mutex refresh_mu_;
  ObjectId live_root_ GUARDED_BY(refresh_mu_);
  uint64_t live_generation_ GUARDED_BY(refresh_mu_) = 0;  // of the refs/main it came from
  repo::Lease* read_lease_ GUARDED_BY(refresh_mu_) = nullptr;
  std::deque<ObjectId> served_roots_ GUARDED_BY(refresh_mu_);
  bool said_older_ GUARDED_BY(refresh_mu_) = false;  // an older refs/main was logged
  std::string refresh_error_;  // the last refresh failure said (the refresher's thread only)
  // Last: stopped first, before what its refreshes use goes.
  std::unique_ptr<Periodic> refresher_;
};

}  // namespace weightfs::vfs
