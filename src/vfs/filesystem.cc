// FileSystem: builds a mount's parts and routes each request to the tree that serves it (see
// filesystem.h). The work is done in live_*.cc, versions_tree.cc and the classes they use.
#include "weightfs/vfs/filesystem.h"

#include <algorithm>
#include <deque>
#include <thread>

#include "vfs/live_tree.h"
#include "vfs/node_table.h"
#include "vfs/tree_context.h"
#include "vfs/versions_tree.h"
#include "weightfs/core/periodic.h"
#include "weightfs/vfs/access.h"

namespace weightfs::vfs {

namespace {

// The .versions view's options for a mount with these options.
VersionsView::Options VersionsOptionsFor(const FsOptions& options, repo::ChunkReader* reader) {
  VersionsView::Options vo;
  vo.uid = options.uid;
  vo.gid = options.gid;
  vo.refresh_s = options.versions_refresh_s;
  vo.reader = reader;
  if (options.access && options.access->options().per_caller) {
    // What a caller sees below .versions depends on who it is: nothing may be cached.
    vo.listing_timeout_s = 0;
    vo.content_timeout_s = 0;
  } else if (options.access) {
    // A policy change must reach entries the kernel keeps while they are in use (an open file,
    // a working directory), which invalidating the root's entries does not drop.
    vo.content_timeout_s = std::min(vo.content_timeout_s, options.entry_timeout_s);
  }
  return vo;
}

}  // namespace

FileSystem::FileSystem(FsOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<FileSystem>> FileSystem::Create(repo::Repository* repo, FsOptions options) {
  ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> main, repo->refs().ReadMain());
  if (!main.raw) return Corruption("the repository has no refs/main; run `weightfs check`");
  // Fail now, not on the first request, if the live root cannot be read.
  ASSIGN_OR_RETURN(repo::TreeObject root_tree, repo->objects().LoadTree(main.value.live_root));
  std::unique_ptr<FileSystem> fs(new FileSystem(std::move(options)));
  fs->Init(repo, main.value.live_root, root_tree);
  MutexLock lock(&fs->refresh_mu_);
  fs->live_root_ = main.value.live_root;
  fs->live_generation_ = main.value.generation;
  return fs;
}

void FileSystem::Init(repo::Repository* repo, const ObjectId& root_id,
                      const repo::TreeObject& root_tree) {
  const bool versions = options_.versions_dir != FsOptions::VersionsDir::kDisabled;
  auto log = [this](const std::string& line) { Log(line); };
  write_pool_ = std::make_unique<ThreadPool>(
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  reader_ = std::make_unique<repo::ChunkReader>(
      repo, repo::ChunkReader::Options{options_.read_cache, options_.read_threads, &dirty_bytes_});
  table_ = std::make_unique<NodeTable>(repo, NodeTable::Options{options_.uid, options_.gid, log},
                                       root_id, root_tree);
  if (versions) {
    versions_ = std::make_unique<VersionsView>(repo, VersionsOptionsFor(options_, reader_.get()));
  }
  committer_ = std::make_unique<Committer>(
      repo, table_.get(), Committer::Options{options_.read_only, options_.commit_interval_s, log});
  snapshots_ = std::make_unique<SnapshotScheduler>(
      repo, committer_.get(), versions_.get(),
      SnapshotScheduler::Options{options_.read_only, options_.snapshot_interval_s, log});
  auth_ = std::make_unique<Authorizer>(options_.access.get(), repo, table_.get(), versions_.get());
  dir_handles_ = std::make_unique<DirHandles>();
  ctx_ = std::make_unique<TreeContext>();
  ctx_->repo = repo;
  ctx_->options = &options_;
  ctx_->router = InodeRouter(versions);
  ctx_->table = table_.get();
  ctx_->committer = committer_.get();
  ctx_->snapshots = snapshots_.get();
  ctx_->auth = auth_.get();
  ctx_->dir_handles = dir_handles_.get();
  ctx_->versions = versions_.get();
  ctx_->reader = reader_.get();
  ctx_->write_pool = write_pool_.get();
  ctx_->dirty_bytes = &dirty_bytes_;
  live_ = std::make_unique<LiveTree>(ctx_.get());
  if (versions) versions_tree_ = std::make_unique<VersionsTree>(ctx_.get());
}

FileSystem::~FileSystem() { Shutdown().IgnoreError(); }

void FileSystem::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Tree& FileSystem::TreeOf(NodeId ino) {
  if (ctx_->router.SpaceOf(ino) == NodeSpace::kVersions) return *versions_tree_;
  return *live_;
}

Tree& FileSystem::TreeOfChild(NodeId parent, const std::string& name) {
  if (ctx_->router.SpaceOfChild(parent, name) == NodeSpace::kVersions) return *versions_tree_;
  return *live_;
}

Tree& FileSystem::TreeOfEither(bool first_in_versions, NodeId parent, const std::string& name) {
  if (first_in_versions) return *versions_tree_;
  return TreeOfChild(parent, name);
}

bool FileSystem::InVersions(NodeId ino) const {
  return ctx_->router.SpaceOf(ino) == NodeSpace::kVersions;
}

void FileSystem::Start() {
  committer_->Start([this] { snapshots_->MaybePeriodicSnapshot(); });
  if (options_.read_only && options_.live_refresh_s > 0 && !refresher_) {
    const auto interval = std::chrono::milliseconds(
        std::max<int64_t>(10, static_cast<int64_t>(options_.live_refresh_s * 1000)));
    refresher_ = std::make_unique<Periodic>(interval, [this] {
      // Failures are said once per kind; the next tick tries again.
      Result<bool> r = RefreshFromMain();
      const std::string error = r.ok() ? "" : r.status().message();
      if (!error.empty() && error != refresh_error_) {
        Log("refreshing the live tree failed (still serving the one before): " + error);
      }
      refresh_error_ = error;
    });
  }
}

Status FileSystem::Shutdown() {
  refresher_.reset();
  return committer_->Shutdown();
}

Result<FileSystem::KernelNames> FileSystem::RefreshLiveTree(const ObjectId& root_id) {
  if (!options_.read_only) {
    return NotPermitted("only a read-only mount takes a live tree committed elsewhere");
  }
  MutexLock refresh(&refresh_mu_);
  KernelNames out;
  if (root_id == live_root_) return out;
  std::unordered_map<std::string, ObjectId> loaded;
  {
    MutexLock lock(table_->mu());
    loaded = table_->LoadedDirs();
  }
  // The changed directories are read before the table is locked: requests go on meanwhile.
  ASSIGN_OR_RETURN(NodeTable::TreeMap trees,
                   NodeTable::ReadChangedTrees(*ctx_->repo, root_id, loaded));
  size_t changed = 0;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(changed, table_->Refresh(root_id, trees, &out.entries, &out.nodes));
  }
  live_root_ = root_id;
  Log("the live tree changed elsewhere; now serving tree " + root_id.Hex().substr(0, 16) + " (" +
      std::to_string(changed) + " loaded names changed)");
  return out;
}

bool FileSystem::IsNewer(const repo::MainRef& main) {
  MutexLock refresh(&refresh_mu_);
  if (main.live_root == live_root_) return false;
  if (main.generation > live_generation_) return true;
  // Generations only grow: an older refs/main was put back (a rollback), not committed.
  if (!said_older_) {
    Log("refs/main went back to generation " + std::to_string(main.generation) + " (serving " +
        std::to_string(live_generation_) + "): keeping the newer live tree");
  }
  said_older_ = true;
  return false;
}

Status FileSystem::ApplyMain(const repo::MainRef& main) {
  ASSIGN_OR_RETURN(KernelNames names, RefreshLiveTree(main.live_root));
  {
    MutexLock refresh(&refresh_mu_);
    live_generation_ = main.generation;
    served_roots_.push_back(main.live_root);
    while (served_roots_.size() > kLeasedRoots) served_roots_.pop_front();
  }
  if (options_.invalidate) options_.invalidate(names);
  return Status::Ok();
}

void FileSystem::SetReadLease(repo::Lease* lease, std::vector<ObjectId> roots) {
  MutexLock refresh(&refresh_mu_);
  read_lease_ = lease;
  served_roots_.assign(roots.begin(), roots.end());
}

Result<bool> FileSystem::RefreshFromMain() {
  // Checked first without the gc lock: nearly every tick finds nothing new.
  ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> main, ctx_->repo->refs().ReadMain());
  if (!main.raw || !IsNewer(main.value)) return false;
  repo::Lease* lease = nullptr;
  {
    MutexLock refresh(&refresh_mu_);
    lease = read_lease_;
  }
  if (lease == nullptr) {
    RETURN_IF_ERROR(ApplyMain(main.value));
    return true;
  }
  // The lease names the new tree before a gc may sweep: refs/main is read again under the
  // shared gc lock, and what is served from then on is what the lease names.
  bool changed = false;
  RETURN_IF_ERROR(lease->UpdateRoots([&]() -> Result<std::vector<ObjectId>> {
    ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> again, ctx_->repo->refs().ReadMain());
    if (again.raw && IsNewer(again.value)) {
      RETURN_IF_ERROR(ApplyMain(again.value));
      changed = true;
    }
    std::vector<ObjectId> served;
    {
      MutexLock refresh(&refresh_mu_);
      served.assign(served_roots_.begin(), served_roots_.end());
    }
    // What gc walks: stored trees (with scopes, each served root's fragments).
    return ctx_->repo->objects().StoredTreesOf(served);
  }));
  return changed;
}

Status FileSystem::Commit() { return committer_->Commit(); }

Result<repo::SnapshotInfo> FileSystem::MakeSnapshot(const std::string& message,
                                                    const std::string& tag) {
  return snapshots_->MakeSnapshot(message, tag);
}

Result<StatFsOut> FileSystem::StatFs(const Caller& c) {
  if (options_.statfs) return options_.statfs();
  return StatFsOut{};
}

FileSystem::KernelNames FileSystem::CachedByKernel() const {
  // Deeper entries were cached for everybody where the old policy decided the same for all;
  // the new one may not. Invalidating the root's names drops the unused ones below them, but
  // not those in use (a working directory, an open file), so on a shared mount each is named.
  const bool deep = options_.access && options_.access->options().per_caller;
  KernelNames out;
  MutexLock lock(table_->mu());
  table_->CachedByKernel(deep, versions_ ? kVersionsName : "", &out.entries, &out.nodes);
  return out;
}

std::optional<std::pair<NodeId, std::string>> FileSystem::EntryNameOf(NodeId ino) const {
  MutexLock lock(table_->mu());
  return table_->EntryNameOf(ino);
}

}  // namespace weightfs::vfs
