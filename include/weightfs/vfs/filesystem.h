// FileSystem: the live, read-write view of a repository's working tree, in the VFS core's own
// types (no FUSE). The FUSE adapter calls one method per request.
//
// State: a table of nodes (inode number -> node) loaded lazily from tree objects. Files hold a
// FileContent (stored chunks + dirty data). A file's "committed view" is its content as of its
// last close or fsync; commits write the committed views and the changed directories as new
// objects and replace refs/main's live tree atomically, so a file that was being written when
// the daemon died is either whole (as of its last close/fsync) or absent, never torn.
//
// Thread-safe. Lock order: tree_mu_ before any FileContent's lock; commit_mu_ before tree_mu_.
// tree_mu_ is never held while file content is read, written or sealed, nor while the access
// control decides (the Authorize* helpers take it themselves; AccessControl's lock is taken last
// and may resolve names through NSS).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class AccessControl;
class FileContent;
class VersionsView;

// Setting this xattr on .versions or on any directory of the live tree records a snapshot of the
// mount; the value is "TAG\nMESSAGE" (`weightfs snapshot DIR [--tag T] [-m M]` does that). The
// policy's `snapshot` capability is checked on that directory (on / for .versions).
inline constexpr const char* kSnapshotXattr = "user.weightfs.snapshot";

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
  // Decides every request against the policy (issue #5); null: every caller may do everything.
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
  // mknod(2) of a FIFO, socket or device node (type one of those; rdev for devices). Device
  // nodes only for root (kNotPermitted).
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
  // Entries from index offset on (including "." and ".."), at most max_entries.
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
  struct KernelNames {
    std::vector<std::pair<NodeId, std::string>> entries;
    std::vector<NodeId> nodes;
  };
  KernelNames CachedByKernel() const;
  // The (parent, name) entry of a live node; nullopt for the root, unlinked or .versions nodes.
  // A directory whose mode or owner changed is invalidated there, so that the kernel forgets
  // the names below it that other users looked up (their search permission may have changed).
  std::optional<std::pair<NodeId, std::string>> EntryNameOf(NodeId ino) const;

  // Commits the live tree and records a snapshot of it (tagged unless tag is empty). Data still
  // buffered in files that are open and were not closed or fsynced since their last write is
  // not part of it: a snapshot holds every file as of its last close or fsync.
  Result<repo::SnapshotInfo> MakeSnapshot(const std::string& message, const std::string& tag);

 private:
  struct Node;
  struct DirHandle;
  FileSystem(repo::Repository* repo, FsOptions options);

  // All helpers named *Locked require tree_mu_.
  Result<Node*> GetNodeLocked(NodeId ino);
  // kNameTooLong for a name longer than 255 bytes (no such name can exist).
  static Status CheckNameLength(const std::string& name);
  static uint32_t CountSubdirs(const repo::TreeObject& tree);
  // Counts the subdirectories of a directory not loaded yet, for its link count.
  Status CountSubdirsLocked(std::unique_lock<std::mutex>& lock, NodeId ino);
  // Loads dir's children; once a hard-linked entry was seen, the whole tree (LoadAllLocked).
  Status EnsureLoadedLocked(std::unique_lock<std::mutex>& lock, Node* dir);
  Status LoadDirLocked(std::unique_lock<std::mutex>& lock, Node* dir);
  // Loads every directory of the live tree, so that every name of every hard-linked file is a
  // link of one node (all_loaded_) and new link group ids are unique in the tree.
  Status LoadAllLocked(std::unique_lock<std::mutex>& lock);
  // Removes the name (dir, name) from n's links (not from dir's children); n stays linked while
  // it has another name.
  void RemoveLinkLocked(Node* n, Node* dir, const std::string& name);
  // Renames n's link (from, name) to (to, new_name) (not in the directories' children).
  void MoveLinkLocked(Node* n, Node* from, const std::string& name, Node* to,
                      const std::string& new_name);
  Result<Node*> ChildLocked(std::unique_lock<std::mutex>& lock, Node* dir, const std::string& name);
  Node* NewNodeLocked(repo::EntryType type, Node* parent, const std::string& name);
  // The loaded directory parent, in which c may add the entry name (none of that name exists).
  Result<Node*> DirForNewEntryLocked(std::unique_lock<std::mutex>& lock, const Caller& c,
                                     NodeId parent, const std::string& name, const char* op);
  // A node c creates in dir: named, owned by c (the group of a setgid dir, which a new
  // subdirectory inherits the setgid bit of), mode as asked, times now; dir touched.
  Node* NewOwnedNodeLocked(const Caller& c, repo::EntryType type, Node* dir,
                           const std::string& name, uint32_t mode);
  // A node loaded from a tree entry (below dir).
  void LoadNodeLocked(Node* dir, const repo::TreeEntry& e);
  repo::TreeEntry EntryOfLocked(const std::string& name, const Node* n) const;

  // Mode bits (mode_check.cc); each is Ok when options_.mode_check is off. kPermissionDenied
  // unless c may search every directory above n and do want (Want bits) on n.
  Status CheckModeLocked(const Caller& c, const Node* n, uint32_t want, const char* op) const;
  // The same by node id (.versions nodes: their snapshot's owner and mode).
  Status CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op);
  // Adding an entry to dir: write and search on it.
  Status CheckAddLocked(const Caller& c, const Node* dir, const char* op) const;
  // Removing (or replacing) entry n of dir: write and search on dir, and the sticky bit's rule.
  Status CheckRemoveLocked(const Caller& c, const Node* dir, const Node* n, const char* op) const;
  // rename of n from from_dir to to_dir: removing from one, adding to the other, and a
  // directory moving elsewhere needs write on itself (its ".." changes).
  Status CheckRenameLocked(const Caller& c, const Node* from_dir, const Node* n,
                           const Node* to_dir) const;
  // Linux's protected_hardlinks: a caller that does not own the file needs read and write on it,
  // and it must be a regular file without setuid (or executable setgid).
  Status CheckLinkSourceLocked(const Caller& c, const Node* n) const;
  // setattr's ownership, mode and time rules; applies chown's and chmod's effect on the mode.
  Status ApplyOwnershipLocked(const Caller& c, Node* n, const SetAttrRequest& req);
  Attr AttrLocked(const Node* n) const;
  EntryOut EntryLocked(Node* n);
  // Whether the kernel may cache n's entry and attributes (the same for every caller).
  bool CacheableLocked(const Node* n) const;
  void MarkDirtyLocked(Node* n);
  void TouchLocked(Node* dir);
  void MaybeDropLocked(Node* n);
  Status CheckWritable() const;
  Result<ObjectId> BuildTreeLocked(Node* dir);
  // Seals content and makes it the committed view of node ino (if it still exists).
  Status SealFile(NodeId ino, const std::shared_ptr<FileContent>& content);
  // The content of a file node, loading its file object on first use.
  Result<std::shared_ptr<FileContent>> LoadContent(NodeId ino);
  void CommitLoop();
  void MaybePeriodicSnapshot();
  Status RefuseInVersions(NodeId ino) const;
  Status RefuseInVersions(NodeId parent, const std::string& name) const;
  Result<uint64_t> OpenVersionsDir(const Caller& c, NodeId ino);
  Result<EntryOut> MakeTaggedSnapshot(const std::string& tag);
  void Log(const std::string& line) const;

  // Access control (filesystem_access.cc); every check is a no-op without options_.access.
  // The path of a live node; nullopt for an unlinked one.
  std::optional<std::string> PathLocked(const Node* n) const;
  // A live node's path, or a .versions node's path in its snapshot (nullopt: a listing node).
  Result<std::optional<std::string>> PathOf(NodeId ino) const;
  // For a hard-linked node: the first of its paths on which the policy allows c list and cap
  // (a request on a node does not say which name it came through); else path.
  std::optional<std::string> PathForCaller(const Caller& c, NodeId ino, policy::Capability cap,
                                           const std::optional<std::string>& path);
  Status AuthorizePath(const Caller& c, const std::optional<std::string>& path, bool in_versions,
                       policy::Capability cap, const char* op);
  // kNotFound when c may not see the node, kPermissionDenied when it may see it but not cap.
  Status Authorize(const Caller& c, NodeId ino, policy::Capability cap, const char* op);
  // The same for name in parent; for kCreate (the name may not exist) only kPermissionDenied.
  Status AuthorizeChild(const Caller& c, NodeId parent, const std::string& name,
                        policy::Capability cap, const char* op);
  // Whether a listing of dir shows name to c.
  bool VisibleChild(const Caller& c, const std::optional<std::string>& dir, bool in_versions,
                    const std::string& name);
  // rename: delete at the source (and everything below it), create at the destination (and
  // below), delete of a replaced destination.
  Status AuthorizeMove(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                       const std::string& new_name);
  Status AuthorizeSnapshot(const Caller& c, NodeId ino, const char* op);
  // A tag (a snapshot's name) needs `snapshot` on `/`, whichever way it is asked for.
  Status AuthorizeTag(const Caller& c, const char* op);
  // Touches the chunks of a file removed while open (see filesystem_ops.cc).
  void KeepChunksForOpenHandles(const std::optional<ObjectId>& file_id);

  repo::Repository* repo_;
  FsOptions options_;
  // Hashes, seals and stores written chunks for every file (the write pipeline). Declared
  // before the nodes, so it outlives every FileContent that submits to it.
  std::unique_ptr<ThreadPool> write_pool_;
  // Shared by every file's reads (cache and read-ahead workers); outlives the nodes.
  std::unique_ptr<repo::ChunkReader> reader_;

  std::mutex commit_mu_;  // one commit at a time
  mutable std::mutex tree_mu_;
  std::unordered_map<NodeId, std::unique_ptr<Node>> nodes_;
  NodeId next_ino_ = 2;
  bool tree_dirty_ = false;
  // Hard links: link group id -> its node; whether a linked entry was loaded (then the whole
  // tree is loaded, all_loaded_, so every group of the tree is known).
  std::unordered_map<uint64_t, NodeId> link_groups_;
  bool links_seen_ = false;
  bool all_loaded_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<DirHandle>> dir_handles_;
  uint64_t next_handle_ = 1;

  std::atomic<int64_t> dirty_bytes_{0};
  std::unique_ptr<VersionsView> versions_;  // null when disabled

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;
  bool started_ = false;
  bool shut_down_ = false;  // the final commit succeeded
  std::thread commit_thread_;
  std::chrono::steady_clock::time_point last_snapshot_check_ = std::chrono::steady_clock::now();
};

}  // namespace weightfs::vfs
