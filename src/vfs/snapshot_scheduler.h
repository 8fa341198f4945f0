// SnapshotScheduler: records snapshots of a mount's live tree: on request (MakeSnapshot, the
// snapshot xattr, mkdir in .versions/tags) and periodically, skipping intervals in which nothing
// changed. Each snapshot commits the live tree first, so it holds every file as of its last
// close or fsync.
//
// Thread-safe. mu_ (the periodic schedule) is a leaf lock, not held while a snapshot is made;
// MakeSnapshot takes the Committer's locks (through Commit) and the VersionsView's.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "vfs/committer.h"
#include "vfs/versions.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/repository.h"

namespace weightfs::vfs {

class SnapshotScheduler {
 public:
  struct Options {
    bool read_only = false;  // then every snapshot is refused (kReadOnly)
    double interval_s = 0;   // periodic snapshots of changed trees; 0: none
    std::function<void(const std::string&)> log;
  };
  // versions: the mount's .versions view (told about new snapshots), or null.
  SnapshotScheduler(repo::Repository* repo, Committer* committer, VersionsView* versions,
                    Options options);

  // Commits the live tree and records a snapshot of it (tagged unless tag is empty).
  Result<repo::SnapshotInfo> MakeSnapshot(const std::string& message, const std::string& tag);
  // The snapshot asked for by setting kSnapshotXattr to value, "TAG\nMESSAGE" (either may be
  // empty; a value without a newline is a message). authorize_tag decides first when it names
  // a tag.
  Status SnapshotFromXattr(ByteView value, const std::function<Status()>& authorize_tag);
  // A periodic snapshot when the interval has passed and the live tree changed since the newest
  // snapshot. Called by the commit thread after each commit.
  void MaybePeriodicSnapshot() EXCLUDES(mu_);

 private:
  // Whether a periodic snapshot is due now (and starts the next interval if so).
  bool PeriodDue() EXCLUDES(mu_);
  void Log(const std::string& line) const;

  repo::Repository* const repo_;
  Committer* const committer_;
  VersionsView* const versions_;
  const Options options_;
  Mutex mu_;
  std::chrono::steady_clock::time_point last_check_ GUARDED_BY(mu_) =
      std::chrono::steady_clock::now();
};

}  // namespace weightfs::vfs
