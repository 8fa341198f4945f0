// FileSystem: node table, lookups, attributes, commits. Namespace operations live in
// filesystem_ops.cc, file content and xattrs in filesystem_io.cc.
#include "weightfs/vfs/filesystem.h"

#include <algorithm>

#include "vfs/node.h"
#include "weightfs/core/clock.h"
#include "weightfs/vfs/access.h"

namespace weightfs::vfs {

FileSystem::FileSystem(repo::Repository* repo, FsOptions options)
    : repo_(repo),
      options_(std::move(options)),
      write_pool_(std::make_unique<ThreadPool>(
          static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))),
      reader_(std::make_unique<repo::ChunkReader>(
          repo,
          repo::ChunkReader::Options{options_.read_cache, options_.read_threads, &dirty_bytes_})) {}

Result<std::unique_ptr<FileSystem>> FileSystem::Create(repo::Repository* repo, FsOptions options) {
  ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> main, repo->refs().ReadMain());
  if (!main.raw) return Corruption("the repository has no refs/main; run `weightfs check`");
  // Fail now, not on the first request, if the live root cannot be read.
  ASSIGN_OR_RETURN(repo::TreeObject root_tree, repo->objects().LoadTree(main.value.live_root));
  std::unique_ptr<FileSystem> fs(new FileSystem(repo, std::move(options)));
  auto root = std::make_unique<Node>();
  root->ino = kRootNode;
  root->type = repo::EntryType::kDirectory;
  root->mode = 0755;
  root->uid = fs->options_.uid;  // the root has no tree entry: it is the mounting user's
  root->gid = fs->options_.gid;
  root->tree_id = main.value.live_root;
  root->mtime_ns = root->ctime_ns = root->atime_ns = NowNs();
  root->nlookup = 1;  // the kernel holds the root forever
  root->unloaded_subdirs = CountSubdirs(root_tree);
  fs->nodes_.emplace(kRootNode, std::move(root));
  if (fs->options_.versions_dir != FsOptions::VersionsDir::kDisabled) {
    VersionsView::Options vo;
    vo.uid = fs->options_.uid;
    vo.gid = fs->options_.gid;
    vo.refresh_s = fs->options_.versions_refresh_s;
    vo.reader = fs->reader_.get();
    if (fs->options_.access && fs->options_.access->options().per_caller) {
      // What a caller sees below .versions depends on who it is: nothing may be cached.
      vo.listing_timeout_s = 0;
      vo.content_timeout_s = 0;
    } else if (fs->options_.access) {
      // A policy change must reach entries the kernel keeps while they are in use (an open file,
      // a working directory), which invalidating the root's entries does not drop.
      vo.content_timeout_s = std::min(vo.content_timeout_s, fs->options_.entry_timeout_s);
    }
    fs->versions_ = std::make_unique<VersionsView>(repo, vo);
  }
  return fs;
}

FileSystem::~FileSystem() { Shutdown().IgnoreError(); }

void FileSystem::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void FileSystem::Start() {
  std::lock_guard lock(loop_mu_);
  if (started_ || options_.read_only) return;
  started_ = true;
  commit_thread_ = std::thread([this] { CommitLoop(); });
}

void FileSystem::CommitLoop() {
  std::unique_lock lock(loop_mu_);
  while (!stop_) {
    loop_cv_.wait_for(lock, std::chrono::duration<double>(options_.commit_interval_s));
    if (stop_) break;
    lock.unlock();
    Status s = Commit();
    if (!s.ok()) Log("commit failed (will retry): " + s.message());
    MaybePeriodicSnapshot();
    lock.lock();
  }
}

void FileSystem::MaybePeriodicSnapshot() {
  if (options_.snapshot_interval_s <= 0) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_snapshot_check_ < std::chrono::duration<double>(options_.snapshot_interval_s))
    return;
  last_snapshot_check_ = now;
  // Skip intervals in which nothing changed: the live tree is still the newest snapshot's.
  auto main = repo_->refs().ReadMain();
  if (!main.ok()) return;
  if (main->value.head) {
    auto head = repo_->objects().LoadSnapshot(*main->value.head);
    if (head.ok() && head->root == main->value.live_root) return;
  }
  auto info = MakeSnapshot("periodic snapshot", "");
  if (!info.ok()) Log("periodic snapshot failed: " + info.status().message());
}

Status FileSystem::Shutdown() {
  {
    std::lock_guard lock(loop_mu_);
    if (shut_down_) return Status::Ok();
    stop_ = true;
  }
  loop_cv_.notify_all();
  if (commit_thread_.joinable()) commit_thread_.join();
  if (options_.read_only) {
    std::lock_guard lock(loop_mu_);
    shut_down_ = true;
    return Status::Ok();
  }
  // Files still holding unsealed changes (e.g. open at a lazy unmount) are sealed as if closed.
  std::vector<std::pair<NodeId, std::shared_ptr<FileContent>>> pending;
  {
    std::lock_guard lock(tree_mu_);
    for (auto& [ino, n] : nodes_) {
      if (n->content && n->linked && (n->content->version() != n->sealed_version || !n->file_id)) {
        pending.emplace_back(ino, n->content);
      }
    }
  }
  Status first;
  for (auto& [ino, content] : pending) {
    Status s = SealFile(ino, content);
    if (!s.ok() && first.ok()) first = s;
  }
  Status s = Commit();
  if (!first.ok()) return first;
  if (s.ok()) {
    // Only now: after a failure (no space) the next call seals and commits again.
    std::lock_guard lock(loop_mu_);
    shut_down_ = true;
  }
  return s;
}

Status FileSystem::CheckWritable() const {
  if (options_.read_only) return ReadOnly("the mount is read-only");
  return Status::Ok();
}

Result<FileSystem::Node*> FileSystem::GetNodeLocked(NodeId ino) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node " + std::to_string(ino));
  return it->second.get();
}

FileSystem::Node* FileSystem::NewNodeLocked(repo::EntryType type, Node* parent,
                                            const std::string& name) {
  auto n = std::make_unique<Node>();
  n->ino = next_ino_++;
  n->type = type;
  n->parent = parent;
  n->name = name;
  Node* raw = n.get();
  nodes_.emplace(raw->ino, std::move(n));
  if (parent) {
    parent->children[name] = raw->ino;
    if (type == repo::EntryType::kDirectory) parent->subdirs++;
  }
  return raw;
}

uint32_t FileSystem::CountSubdirs(const repo::TreeObject& tree) {
  return static_cast<uint32_t>(std::count_if(
      tree.entries.begin(), tree.entries.end(),
      [](const repo::TreeEntry& e) { return e.type == repo::EntryType::kDirectory; }));
}

Status FileSystem::CountSubdirsLocked(std::unique_lock<std::mutex>& lock, NodeId ino) {
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(ino));
  if (dir->type != repo::EntryType::kDirectory || dir->nlink_subdirs() || !dir->tree_id)
    return Status::Ok();
  const ObjectId id = *dir->tree_id;
  // Counted without the table lock, like a load; the tree objects of directories are small.
  lock.unlock();
  auto tree = repo_->objects().LoadTree(id);
  lock.lock();
  if (!tree.ok()) {
    // The lookup itself stays possible (nlink 1: not counted); listing the directory fails.
    Log("reading directory failed: " + tree.status().message());
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(dir, GetNodeLocked(ino));
  if (!dir->loaded && dir->tree_id == id) dir->unloaded_subdirs = CountSubdirs(*tree);
  return Status::Ok();
}

Status FileSystem::EnsureLoadedLocked(std::unique_lock<std::mutex>& lock, Node* dir) {
  RETURN_IF_ERROR(LoadDirLocked(lock, dir));
  if (links_seen_ && !all_loaded_) return LoadAllLocked(lock);
  return Status::Ok();
}

Status FileSystem::LoadAllLocked(std::unique_lock<std::mutex>& lock) {
  if (all_loaded_) return Status::Ok();
  std::vector<NodeId> todo = {kRootNode};
  while (!todo.empty()) {
    const NodeId ino = todo.back();
    todo.pop_back();
    auto n = GetNodeLocked(ino);
    if (!n.ok() || (*n)->type != repo::EntryType::kDirectory) continue;
    RETURN_IF_ERROR(LoadDirLocked(lock, *n));  // may release the lock
    ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(ino));
    for (const auto& [name, child] : dir->children) todo.push_back(child);
  }
  all_loaded_ = true;
  return Status::Ok();
}

Status FileSystem::LoadDirLocked(std::unique_lock<std::mutex>& lock, Node* dir) {
  if (dir->type != repo::EntryType::kDirectory) return NotDirectory("not a directory");
  if (dir->loaded) return Status::Ok();
  if (!dir->tree_id) {
    dir->loaded = true;
    return Status::Ok();
  }
  const ObjectId id = *dir->tree_id;
  const NodeId ino = dir->ino;
  // Load without the table lock; another thread may load the same directory meanwhile.
  lock.unlock();
  auto tree = repo_->objects().LoadTree(id);
  lock.lock();
  if (!tree.ok()) {
    Log("reading directory failed: " + tree.status().message());
    return tree.status();
  }
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("directory was removed");
  dir = it->second.get();
  if (dir->loaded) return Status::Ok();
  for (const repo::TreeEntry& e : tree->entries) LoadNodeLocked(dir, e);
  dir->loaded = true;
  return Status::Ok();
}

void FileSystem::LoadNodeLocked(Node* dir, const repo::TreeEntry& e) {
  if (e.link_group != 0) {
    links_seen_ = true;
    auto it = link_groups_.find(e.link_group);
    if (it != link_groups_.end() && nodes_.count(it->second)) {
      // Another name of a file already loaded: one node. Its entry here may predate a change
      // made through a name loaded before, so this directory is written again.
      Node* n = nodes_[it->second].get();
      dir->children[e.name] = n->ino;
      if (n->linked) {
        n->more_links.emplace_back(dir, e.name);
      } else {
        n->parent = dir;
        n->name = e.name;
        n->linked = true;
      }
      MarkDirtyLocked(n);
      return;
    }
  }
  Node* n = NewNodeLocked(e.type, dir, e.name);
  if (e.link_group != 0) {
    n->link_group = e.link_group;
    link_groups_[e.link_group] = n->ino;
  }
  n->mode = e.mode;
  n->mtime_ns = n->ctime_ns = n->atime_ns = e.mtime_ns;
  n->xattrs = e.xattrs;
  n->has_owner = e.has_owner;
  n->uid = e.has_owner ? e.uid : options_.uid;
  n->gid = e.has_owner ? e.gid : options_.gid;
  n->rdev = e.rdev;
  switch (e.type) {
    case repo::EntryType::kDirectory:
      n->tree_id = e.id;
      break;
    case repo::EntryType::kSymlink:
      n->target = e.target;
      break;
    case repo::EntryType::kFile:
      n->file_id = e.id;
      n->stored_size = n->committed_size = e.size;
      n->stored_hole_bytes = n->committed_hole_bytes = e.hole_bytes;
      break;
    default:  // special files have no content
      break;
  }
}

FileSystem::Node* FileSystem::NewOwnedNodeLocked(const Caller& c, repo::EntryType type, Node* dir,
                                                 const std::string& name, uint32_t mode) {
  Node* n = NewNodeLocked(type, dir, name);
  n->has_owner = true;
  n->uid = c.uid;
  n->gid = c.gid;
  n->mode = mode & 07777;
  if (dir->mode & kSetGid) {
    // BSD group semantics in a setgid directory, which new subdirectories pass on.
    n->gid = dir->gid;
    if (type == repo::EntryType::kDirectory) n->mode |= kSetGid;
  } else if (type != repo::EntryType::kDirectory && (n->mode & kSetGid) && (n->mode & 0010) &&
             c.uid != 0 && !InGroup(c, n->gid)) {
    n->mode &= ~kSetGid;
  }
  n->mtime_ns = n->ctime_ns = n->atime_ns = NowNs();
  TouchLocked(dir);
  return n;
}

Result<FileSystem::Node*> FileSystem::ChildLocked(std::unique_lock<std::mutex>& lock, Node* dir,
                                                  const std::string& name) {
  const NodeId ino = dir->ino;
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, dir));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(ino));
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return NotFound(name + ": no such file or directory");
  return GetNodeLocked(it->second);
}

Attr FileSystem::AttrLocked(const Node* n) const {
  Attr a;
  a.ino = n->ino;
  a.type = NodeTypeOf(n->type);
  a.mode = n->mode;
  if (n->type == repo::EntryType::kDirectory) {
    // 2 + subdirectories; 1 ("not counted", as btrfs and find(1) understand it) until counted.
    const std::optional<uint32_t> subdirs = n->nlink_subdirs();
    a.nlink = subdirs ? 2 + *subdirs : 1;
  } else {
    a.nlink = n->nlink_names();
  }
  a.uid = n->uid;
  a.gid = n->gid;
  a.rdev = n->rdev;
  a.size = n->size();
  a.blocks = (a.size - std::min(n->hole_bytes(), a.size) + 511) / 512;
  a.mtime_ns = n->mtime_ns;
  a.ctime_ns = n->ctime_ns;
  a.atime_ns = n->atime_ns;
  return a;
}

bool FileSystem::CacheableLocked(const Node* n) const {
  if (options_.mode_check) {
    // Below a directory that not everybody may search, each lookup must reach the daemon: the
    // kernel would otherwise let anybody walk the names some user looked up.
    for (const Node* d = n->parent; d; d = d->parent) {
      if ((d->mode & 0111) != 0111) return false;
    }
  }
  if (!options_.access || !options_.access->options().per_caller) return true;
  if (n->ino == kRootNode) return true;  // always there, the same attributes for everybody
  const std::optional<std::string> path = PathLocked(n);
  return path && options_.access->SameForEveryCaller(*path);
}

EntryOut FileSystem::EntryLocked(Node* n) {
  n->nlookup++;
  EntryOut e;
  e.attr = AttrLocked(n);
  const bool cacheable = CacheableLocked(n);
  e.entry_timeout = cacheable ? options_.entry_timeout_s : 0;
  e.attr_timeout = cacheable ? options_.attr_timeout_s : 0;
  return e;
}

void FileSystem::MarkDirtyLocked(Node* n) {
  if (n->type != repo::EntryType::kDirectory && !n->linked) return;
  auto up = [](Node* d) {
    for (; d; d = d->parent) d->dirty = true;
  };
  up(n->type == repo::EntryType::kDirectory ? n : n->parent);
  for (const auto& [dir, name] : n->more_links) up(dir);  // every name of a hard-linked file
  tree_dirty_ = true;
}

void FileSystem::TouchLocked(Node* dir) {
  dir->mtime_ns = dir->ctime_ns = NowNs();
  MarkDirtyLocked(dir);
}

void FileSystem::MaybeDropLocked(Node* n) {
  if (n->ino == kRootNode || n->linked || n->nlookup > 0 || n->open_count > 0) return;
  // An unlinked directory's loaded children go with it.
  if (n->type == repo::EntryType::kDirectory) {
    for (auto& [name, child_ino] : n->children) {
      auto it = nodes_.find(child_ino);
      if (it == nodes_.end()) continue;
      it->second->linked = false;
      it->second->parent = nullptr;
      MaybeDropLocked(it->second.get());
    }
  }
  nodes_.erase(n->ino);
}

Result<EntryOut> FileSystem::Lookup(const Caller& c, NodeId parent, const std::string& name) {
  // No such name can exist; saying so first reveals nothing to a caller the policy hides things
  // from.
  RETURN_IF_ERROR(CheckNameLength(name));
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kList, "lookup"));
  if (versions_ && VersionsView::Owns(parent)) {
    RETURN_IF_ERROR(CheckMode(c, parent, kWantExec, "lookup"));
    return versions_->Lookup(parent, name);
  }
  if (versions_ && parent == kRootNode && name == VersionsView::kName)
    return versions_->LookupTop();
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
  RETURN_IF_ERROR(CheckModeLocked(c, dir, kWantExec, "lookup"));
  ASSIGN_OR_RETURN(Node * n, ChildLocked(lock, dir, name));
  const NodeId ino = n->ino;
  RETURN_IF_ERROR(CountSubdirsLocked(lock, ino));
  ASSIGN_OR_RETURN(n, GetNodeLocked(ino));
  return EntryLocked(n);
}

void FileSystem::Forget(NodeId ino, uint64_t nlookup) {
  if (VersionsView::Owns(ino)) return;  // .versions nodes live as long as the mount
  std::lock_guard lock(tree_mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  Node* n = it->second.get();
  n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
  MaybeDropLocked(n);
}

Result<Attr> FileSystem::GetAttr(const Caller& c, NodeId ino, double* attr_timeout) {
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kList, "getattr"));
  if (versions_ && VersionsView::Owns(ino)) {
    if (attr_timeout) {
      const bool per_caller = options_.access && options_.access->options().per_caller;
      *attr_timeout = per_caller ? 0 : options_.attr_timeout_s;
    }
    return versions_->GetAttr(ino);
  }
  std::unique_lock lock(tree_mu_);
  RETURN_IF_ERROR(CountSubdirsLocked(lock, ino));
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  if (attr_timeout) *attr_timeout = CacheableLocked(n) ? options_.attr_timeout_s : 0;
  return AttrLocked(n);
}

Result<Attr> FileSystem::SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                                 double* attr_timeout) {
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kUpdate, "setattr"));
  std::shared_ptr<FileContent> content;
  {
    std::unique_lock lock(tree_mu_);
    ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
    if (req.set_size) {
      if (n->type == repo::EntryType::kDirectory) return IsDirectory("cannot truncate a directory");
      if (n->type != repo::EntryType::kFile)
        return InvalidArgument("cannot truncate a symlink or special file");
      RETURN_IF_ERROR(CheckModeLocked(c, n, kWantWrite, "truncate"));
    }
    RETURN_IF_ERROR(ApplyOwnershipLocked(c, n, req));
    if (req.set_mtime) n->mtime_ns = req.mtime_ns;
    if (req.set_atime) n->atime_ns = req.atime_ns;
    // A truncate changes the times only if it changes the size (below), as on ext4 and as POSIX
    // says; open(O_TRUNC) asks for the new mtime itself.
    if (req.set_mode || req.set_mtime || req.set_atime || req.set_uid || req.set_gid)
      n->ctime_ns = NowNs();
    if (req.set_mode || req.set_mtime || req.set_uid || req.set_gid) MarkDirtyLocked(n);
    if (req.set_size) {
      lock.unlock();
      ASSIGN_OR_RETURN(content, LoadContent(ino));
    }
  }
  if (content) {
    const uint64_t version = content->version();
    RETURN_IF_ERROR(content->Truncate(req.size));
    bool seal = false;
    if (content->version() != version) {
      std::lock_guard lock(tree_mu_);
      ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
      n->ctime_ns = NowNs();
      if (!req.set_mtime) n->mtime_ns = n->ctime_ns;
      // A truncate outside an open handle (truncate(2)) has no close to seal it. Growing adds a
      // hole, so this costs O(1) whatever the size.
      seal = n->open_count == 0;
    }
    if (seal) RETURN_IF_ERROR(SealFile(ino, content));
  }
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  if (attr_timeout) *attr_timeout = CacheableLocked(n) ? options_.attr_timeout_s : 0;
  return AttrLocked(n);
}

Result<ObjectId> FileSystem::BuildTreeLocked(Node* dir) {
  // A directory never loaded still has its stored children (changing one loads it first); a
  // change to its own mode, times, xattrs or place only dirties the entry in its parent. Its
  // empty `children` must not be written as its content.
  if (dir->tree_id && (!dir->dirty || !dir->loaded)) {
    dir->dirty = false;
    return *dir->tree_id;
  }
  repo::TreeObject tree;
  tree.entries.reserve(dir->children.size());
  for (const auto& [name, ino] : dir->children) {
    ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
    repo::TreeEntry e = EntryOfLocked(name, n);
    switch (n->type) {
      case repo::EntryType::kFile:
        if (!n->file_id) continue;  // created but never closed: not committed yet
        e.id = *n->file_id;
        e.size = n->committed_size;
        e.hole_bytes = n->committed_hole_bytes;
        break;
      case repo::EntryType::kDirectory: {
        ASSIGN_OR_RETURN(e.id, BuildTreeLocked(n));
        break;
      }
      case repo::EntryType::kSymlink:
        e.target = n->target;
        e.size = n->target.size();
        break;
      default:  // special files: everything is in the entry
        break;
    }
    tree.entries.push_back(std::move(e));
  }
  // Small objects, so sealing them under the table lock keeps the commit consistent cheaply.
  ASSIGN_OR_RETURN(ObjectId id, repo_->objects().PutTree(tree));
  dir->tree_id = id;
  dir->dirty = false;
  return id;
}

repo::TreeEntry FileSystem::EntryOfLocked(const std::string& name, const Node* n) const {
  repo::TreeEntry e;
  e.name = name;
  e.type = n->type;
  e.mode = n->mode;
  e.mtime_ns = n->mtime_ns;
  e.xattrs = n->xattrs;
  e.has_owner = n->has_owner;
  e.uid = n->has_owner ? n->uid : 0;
  e.gid = n->has_owner ? n->gid : 0;
  e.rdev = n->rdev;
  e.link_group = n->more_links.empty() ? 0 : n->link_group;
  return e;
}

Status FileSystem::Commit() {
  if (options_.read_only) return Status::Ok();
  std::lock_guard commit_lock(commit_mu_);
  ObjectId root;
  {
    std::lock_guard lock(tree_mu_);
    if (!tree_dirty_) return Status::Ok();
    ASSIGN_OR_RETURN(Node * r, GetNodeLocked(kRootNode));
    auto built = BuildTreeLocked(r);
    if (!built.ok()) return built.status();
    root = *built;
    tree_dirty_ = false;
  }
  auto publish = [&]() -> Status {
    RETURN_IF_ERROR(repo_->objects().Sync());
    for (int attempt = 0; attempt < 20; ++attempt) {
      ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> main, repo_->refs().ReadMain());
      if (main.value.live_root == root) return Status::Ok();
      repo::MainRef next = main.value;
      next.live_root = root;
      next.generation++;
      Status s = repo_->refs().WriteMain(next, main.raw);
      if (s.code() != Code::kConflict) return s;
    }
    return Conflict("refs/main keeps changing under the mount");
  };
  Status s = publish();
  if (!s.ok()) {
    std::lock_guard lock(tree_mu_);
    tree_dirty_ = true;  // retried by the next commit; the tree objects are already stored
    if (auto r = GetNodeLocked(kRootNode); r.ok()) (*r)->dirty = true;
  }
  return s;
}

Result<StatFsOut> FileSystem::StatFs(const Caller& c) {
  if (options_.statfs) return options_.statfs();
  return StatFsOut{};
}

}  // namespace weightfs::vfs
