// Rollback detection: this machine remembers, per repository id and location, the newest snapshot
// (sequence number and id) it has seen. Someone who can write the repository's files could
// otherwise put back an older, genuinely sealed refs/main and make readers see old weights as
// current. State lives in $WEIGHTFS_STATE_DIR, else /var/lib/weightfs/state for root, else
// $XDG_STATE_HOME/weightfs or ~/.local/state/weightfs. One small file per repository location.
//
// Why the location: replicas (replica.h) share their source's repository id, and a replica is
// legitimately older than its source until the next copy; one record per id would read opening
// it after the source as a rollback. Put back at the same location, an older copy is still
// detected. A record written before locations were recorded (named by the id alone) is taken
// over by the first location that opens the repository (before replicas, its only location).
#pragma once

#include <string>
#include <vector>

#include "weightfs/core/status.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

std::string DefaultStateDir();

// Where this machine's record of one repository location lives.
struct StateScope {
  std::string dir;  // DefaultStateDir(), or a test's
  // The repository's location as one canonical string: the absolute, lexically normalized path
  // of a local directory (symbolic links not resolved, see cli::StateScopeFor),
  // "s3://ENDPOINT-HOST/BUCKET/PREFIX" or the like for a bucket (the same repository must give the
  // same string every time). Empty: the id alone (the older naming).
  std::string location;
};

// Compares the repository's head with what this machine saw before, then records the head.
// A head older than the one seen (or a different snapshot with the same sequence number) is
// kCorruption with a message saying what happened, unless accept_rollback, in which case the
// older head is recorded and *note says so.
Status CheckAndRecordHead(const Repository& repo, const StateScope& state, bool accept_rollback,
                          std::string* note);

// Records head as seen (after this machine published it). Best effort: errors are returned
// for logging only.
Status RecordHead(const Repository& repo, const MainRef& head, const StateScope& state);

// The same for refs/policy (which the snapshot chain anchors only as of the newest snapshot): a
// policy version older than the newest this machine has seen, a different version with the same
// number, or none after one was seen, is kCorruption unless accept_rollback.
Status CheckAndRecordPolicy(const Repository& repo, const StateScope& state, bool accept_rollback,
                            std::string* note);
// Records policy version (seq, id) as seen (after this machine set it). Best effort.
Status RecordPolicy(const Repository& repo, uint64_t seq, const ObjectId& id,
                    const StateScope& state);

// The same for refs/tags: this machine remembers the newest generation of refs/tags it has seen
// and the snapshots its tags named. A refs/tags that is missing after tags were seen, or whose
// generation is older (or the same with other tags), was deleted or rolled back: kCorruption
// unless accept_rollback. When a rollback is accepted, the snapshots the lost tags named are
// remembered as "lost" (see LostTaggedSnapshots) so that gc keeps them and says so.
Status CheckAndRecordTags(const Repository& repo, const StateScope& state, bool accept_rollback,
                          std::string* note);
// Snapshots that tags named before an accepted rollback of refs/tags and that no tag names now.
std::vector<ObjectId> LostTaggedSnapshots(const Repository& repo, const StateScope& state);

}  // namespace weightfs::repo
