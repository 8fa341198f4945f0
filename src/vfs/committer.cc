#include "vfs/committer.h"

#include <chrono>

#include "vfs/file_content.h"

namespace weightfs::vfs {

Committer::Committer(repo::Repository* repo, NodeTable* table, Options options)
    : repo_(repo), table_(table), options_(std::move(options)) {}

Committer::~Committer() { StopThread(); }

void Committer::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Committer::Start(std::function<void()> after_commit) {
  MutexLock lock(&loop_mu_);
  if (started_ || options_.read_only) return;
  started_ = true;
  after_commit_ = std::move(after_commit);
  thread_ = std::thread([this] { Loop(); });
}

void Committer::Loop() {
  MutexLock lock(&loop_mu_);
  while (!stop_) {
    // The predicate runs under loop_mu_, inside WaitFor, where the analysis cannot see it.
    loop_cv_.WaitFor(std::chrono::duration<double>(options_.commit_interval_s),
                     [this]() NO_THREAD_SAFETY_ANALYSIS { return stop_; });
    if (stop_) break;
    lock.Unlock();
    Status s = Commit();
    if (!s.ok()) Log("commit failed (will retry): " + s.message());
    if (after_commit_) after_commit_();
    lock.Lock();
  }
}

void Committer::StopThread() {
  {
    MutexLock lock(&loop_mu_);
    stop_ = true;
  }
  loop_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

Status Committer::Shutdown() {
  {
    MutexLock lock(&loop_mu_);
    if (shut_down_) return Status::Ok();
  }
  StopThread();
  if (options_.read_only) {
    MutexLock lock(&loop_mu_);
    shut_down_ = true;
    return Status::Ok();
  }
  // Files still holding unsealed changes (e.g. open at a lazy unmount) are sealed as if closed.
  std::vector<std::pair<NodeId, std::shared_ptr<FileContent>>> pending;
  {
    MutexLock lock(table_->mu());
    pending = table_->Unsealed();
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
    MutexLock lock(&loop_mu_);
    shut_down_ = true;
  }
  return s;
}

Status Committer::SealFile(NodeId ino, const std::shared_ptr<FileContent>& content) {
  const uint64_t version = content->version();
  // A failure is logged by whoever handles it: the FUSE adapter (close, truncate) or the
  // mount's final commit.
  auto sealed = content->Seal();
  if (!sealed.ok()) return sealed.status();
  MutexLock lock(table_->mu());
  Node* n = table_->Find(ino);
  if (!n) return Status::Ok();  // gone meanwhile
  n->file_id = sealed->first;
  n->committed_size = sealed->second.size;
  n->committed_hole_bytes = sealed->second.HoleBytes();
  n->sealed_version = version;
  table_->MarkDirty(n);
  return Status::Ok();
}

Status Committer::Commit() {
  if (options_.read_only) return Status::Ok();
  MutexLock commit_lock(&commit_mu_);
  ObjectId root;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(std::optional<ObjectId> built, table_->BuildTreeIfDirty());
    if (!built) return Status::Ok();
    root = *built;
  }
  Status s = Publish(root);
  if (!s.ok()) {
    MutexLock lock(table_->mu());
    table_->MarkTreeDirty();  // retried by the next commit
  }
  return s;
}

Status Committer::Publish(const ObjectId& root) {
  RETURN_IF_ERROR(repo_->objects().Sync());
  // Only the live tree changes: a head another writer set meanwhile is kept.
  return repo_->refs().UpdateMain([&](repo::MainRef* main) -> Result<bool> {
    if (main->live_root == root) return false;
    main->live_root = root;
    return true;
  });
}

}  // namespace weightfs::vfs
