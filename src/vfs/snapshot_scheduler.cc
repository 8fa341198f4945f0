#include "vfs/snapshot_scheduler.h"

namespace weightfs::vfs {

SnapshotScheduler::SnapshotScheduler(repo::Repository* repo, Committer* committer,
                                     VersionsView* versions, Options options)
    : repo_(repo), committer_(committer), versions_(versions), options_(std::move(options)) {}

void SnapshotScheduler::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Result<repo::SnapshotInfo> SnapshotScheduler::MakeSnapshot(const std::string& message,
                                                           const std::string& tag) {
  if (options_.read_only) return ReadOnly("the mount is read-only");
  if (!tag.empty()) RETURN_IF_ERROR(repo::ValidateTagName(tag));
  RETURN_IF_ERROR(committer_->Commit());
  repo::SnapshotOptions options;
  options.message = message.empty() ? (tag.empty() ? "snapshot" : "snapshot " + tag) : message;
  options.tag = tag;
  auto info = repo::SnapshotLive(repo_, options);
  if (!info.ok()) {
    Log("snapshot failed: " + info.status().message());
    return info.status();
  }
  if (versions_) versions_->Invalidate();
  Log("snapshot " + info->id.Hex() + (tag.empty() ? "" : " tagged " + tag));
  return info;
}

Status SnapshotScheduler::SnapshotFromXattr(ByteView value,
                                            const std::function<Status()>& authorize_tag) {
  const std::string v(AsString(value));
  const size_t nl = v.find('\n');
  // The tag comes first; "\nMESSAGE" or a value without a newline names none.
  if (nl != std::string::npos && nl > 0) RETURN_IF_ERROR(authorize_tag());
  return MakeSnapshot(nl == std::string::npos ? v : v.substr(nl + 1),
                      nl == std::string::npos ? "" : v.substr(0, nl))
      .status();
}

bool SnapshotScheduler::PeriodDue() {
  if (options_.interval_s <= 0) return false;
  MutexLock lock(&mu_);
  auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < std::chrono::duration<double>(options_.interval_s)) return false;
  last_check_ = now;
  return true;
}

void SnapshotScheduler::MaybePeriodicSnapshot() {
  if (!PeriodDue()) return;
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

}  // namespace weightfs::vfs
