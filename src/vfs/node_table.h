// NodeTable: the live tree's nodes in memory, by inode number. Directories load their children
// lazily from tree objects; once a hard-linked entry was seen the whole tree is loaded, so that
// every name of a linked file is a link of one node (link groups). BuildTree writes the changed
// directories back as tree objects for a commit.
//
// Thread-safe through one mutex, mu(), that callers take (MutexLock lock(table->mu())) around
// every call marked REQUIRES(mu()): a request holds it across its lookups and changes so that
// they are atomic. The loading calls (EnsureLoaded, LoadAll, CountSubdirs, Child) release and
// retake it around the object reads, so Node pointers held across them must be looked up again
// by inode. Lock order: mu() before any FileContent's locks; it is never held across file
// content I/O, access-control decisions or repository writes other than BuildTree's small tree
// objects.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vfs/node.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class NodeTable {
 public:
  struct Options {
    uint32_t uid = 0;  // owner shown for nodes that record none (and the root)
    uint32_t gid = 0;
    std::function<void(const std::string&)> log;  // errors reading directories
  };
  // The table of a live tree whose root is root_tree (stored as root_id).
  NodeTable(repo::Repository* repo, Options options, const ObjectId& root_id,
            const repo::TreeObject& root_tree);

  Mutex* mu() RETURN_CAPABILITY(mu_) { return &mu_; }

  // Lookups. Get: kNotFound for a node not (or no longer) in the table; Find: nullptr then.
  Result<Node*> Get(NodeId ino) REQUIRES(mu_);
  Node* Find(NodeId ino) REQUIRES(mu_);
  // dir's child name (loading dir first); kNotFound when there is none.
  Result<Node*> Child(Node* dir, const std::string& name) REQUIRES(mu_);

  // Loading (each may release mu() while it reads objects). EnsureLoaded loads dir's children,
  // and the whole tree once a hard-linked entry was seen; LoadAll loads every directory, so that
  // new link group ids are unique in the tree; CountSubdirs counts the subdirectories of an
  // unloaded directory for its link count.
  Status EnsureLoaded(Node* dir) REQUIRES(mu_);
  Status LoadAll() REQUIRES(mu_);
  Status CountSubdirs(NodeId ino) REQUIRES(mu_);
  static uint32_t CountSubdirs(const repo::TreeObject& tree);

  // Changes. NewNode adds a node named name in parent (nullptr: none); NewOwnedNode one that c
  // creates in dir: owned by c (the group of a setgid dir, which a new subdirectory inherits the
  // setgid bit of), mode as asked, times now, dir touched.
  Node* NewNode(repo::EntryType type, Node* parent, const std::string& name) REQUIRES(mu_);
  Node* NewOwnedNode(const Caller& c, repo::EntryType type, Node* dir, const std::string& name,
                     uint32_t mode) REQUIRES(mu_);
  // A new link group id for n (a file getting its second name), unique in the loaded tree.
  void AssignLinkGroup(Node* n) REQUIRES(mu_);
  // Removes the name (dir, name) from n's links (not from dir's children); n stays linked while
  // it has another name. MoveLink renames n's link (from, name) to (to, new_name).
  void RemoveLink(Node* n, Node* dir, const std::string& name) REQUIRES(mu_);
  void MoveLink(Node* n, Node* from, const std::string& name, Node* to, const std::string& new_name)
      REQUIRES(mu_);
  // n's entry (and every directory above each of its names) must be written again.
  void MarkDirty(Node* n) REQUIRES(mu_);
  // dir's times are now and it is dirty.
  void Touch(Node* dir) REQUIRES(mu_);
  // Drops n once nothing holds it (no name, no kernel reference, no open handle).
  void MaybeDrop(Node* n) REQUIRES(mu_);
  // The kernel dropped nlookup references to ino.
  void Forget(NodeId ino, uint64_t nlookup) REQUIRES(mu_);

  // Reading.
  Attr AttrOf(const Node* n) const REQUIRES(mu_);
  // The path of a live node; nullopt for an unlinked one.
  std::optional<std::string> PathOf(const Node* n) const REQUIRES(mu_);
  // The (parent, name) entry of a live node; nullopt for the root or an unlinked node.
  std::optional<std::pair<NodeId, std::string>> EntryNameOf(NodeId ino) const REQUIRES(mu_);
  // The root's entries (and extra_root_name, unless empty), and (deep) every entry and node the
  // kernel holds a reference to.
  void CachedByKernel(bool deep, const std::string& extra_root_name,
                      std::vector<std::pair<NodeId, std::string>>* entries,
                      std::vector<NodeId>* nodes) const REQUIRES(mu_);
  // Files with changes not sealed yet (open at shutdown), with their content.
  std::vector<std::pair<NodeId, std::shared_ptr<FileContent>>> Unsealed() const REQUIRES(mu_);

  // Commits. BuildTreeIfDirty: nullopt when nothing changed since the last build, else the
  // stored root tree of the current state. MarkTreeDirty: the build was not published, build
  // again next time.
  Result<std::optional<ObjectId>> BuildTreeIfDirty() REQUIRES(mu_);
  void MarkTreeDirty() REQUIRES(mu_);

  // Refreshing a read-only mount's tree to a newer live root another writer committed
  // (node_table_refresh.cc). LoadedDirs: the loaded directories as (path, tree id), what a
  // refresh walks; ReadChangedTrees (no lock held) reads the tree objects of the new root along
  // those paths where they changed, so that Refresh, under the lock, rarely reads any.
  using TreeMap = std::unordered_map<ObjectId, repo::TreeObject, ObjectIdHash>;
  std::unordered_map<std::string, ObjectId> LoadedDirs() const REQUIRES(mu_);
  static Result<TreeMap> ReadChangedTrees(const repo::Repository& repo, const ObjectId& root_id,
                                          const std::unordered_map<std::string, ObjectId>& loaded);
  // Brings the loaded directories to the tree rooted at root_id in place: an unchanged node keeps
  // its inode; a directory keeps it and takes the new attributes; a file, symlink or special file
  // that changed becomes a new node, so open handles keep reading what they opened; a removed
  // name is unlinked (its node stays while the kernel or a handle holds it). Appends the
  // (parent, name) entries the kernel must forget to *entries and the nodes whose attributes
  // changed to *nodes; returns how many names changed.
  Result<size_t> Refresh(const ObjectId& root_id, const TreeMap& trees,
                         std::vector<std::pair<NodeId, std::string>>* entries,
                         std::vector<NodeId>* nodes) REQUIRES(mu_);

 private:
  Status LoadDir(Node* dir) REQUIRES(mu_);
  void LoadNode(Node* dir, const repo::TreeEntry& e) REQUIRES(mu_);
  // Another name of an already loaded hard-linked file: true when e was one.
  bool LoadLink(Node* dir, const repo::TreeEntry& e) REQUIRES(mu_);
  Result<ObjectId> BuildTree(Node* dir) REQUIRES(mu_);
  static repo::TreeEntry EntryOf(const std::string& name, const Node* n);
  // Refresh's steps: a directory brought to tree new_id; a name of dir that goes; attributes
  // of a kept directory node from its new entry (whether they changed).
  struct RefreshOut;
  Status RefreshDir(Node* dir, const ObjectId& new_id, const TreeMap& trees, RefreshOut* out)
      REQUIRES(mu_);
  void DropName(Node* dir, const std::string& name, Node* n) REQUIRES(mu_);
  static bool TakeDirAttrs(Node* n, const repo::TreeEntry& e);
  void Log(const std::string& line) const;

  repo::Repository* const repo_;
  const Options options_;
  Mutex mu_;
  std::unordered_map<NodeId, std::unique_ptr<Node>> nodes_ GUARDED_BY(mu_);
  NodeId next_ino_ GUARDED_BY(mu_) = 2;
  bool tree_dirty_ GUARDED_BY(mu_) = false;
  // Hard links: link group id -> its node; whether a linked entry was loaded (then the whole
  // tree is loaded, all_loaded_, so every group of the tree is known).
  std::unordered_map<uint64_t, NodeId> link_groups_ GUARDED_BY(mu_);
  bool links_seen_ GUARDED_BY(mu_) = false;
  bool all_loaded_ GUARDED_BY(mu_) = false;
};

}  // namespace weightfs::vfs
