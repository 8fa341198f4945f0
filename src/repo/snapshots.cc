// Repository's snapshot chain: recording a snapshot, listing the chain and resolving the names
// people give versions by.
#include "repo/records.h"
#include "weightfs/core/clock.h"
#include "weightfs/core/names.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

Result<SnapshotInfo> Repository::CommitSnapshot(const MakeRootFn& make_root,
                                                const std::string& message) {
  std::optional<SnapshotInfo> made;
  RETURN_IF_ERROR(refs_->UpdateMain([&](MainRef* main) -> Result<bool> {
    ASSIGN_OR_RETURN(ObjectId root, make_root(*main));
    SnapshotObject snap;
    snap.root = root;
    snap.parent = main->head;
    snap.seq = main->head_seq + 1;
    snap.time_ns = NowNs();
    snap.author = slot_name_;
    snap.message = message;
    ASSIGN_OR_RETURN(auto policy, policies_->ReadPolicy());
    if (policy.value) snap.policy = policy.value->id;
    ASSIGN_OR_RETURN(ObjectId id, objects_->PutSnapshot(snap));
    RETURN_IF_ERROR(objects_->Sync());
    main->head = id;
    main->head_seq = snap.seq;
    main->live_root = root;
    made = SnapshotInfo{id, std::move(snap)};
    return true;
  }));
  return std::move(*made);
}

Result<std::vector<SnapshotInfo>> Repository::ListSnapshots(bool* sealed_older) const {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, refs_->ReadMain());
  std::vector<SnapshotInfo> out;
  std::optional<ObjectId> next = main.value.head;
  uint64_t expect_seq = main.value.head_seq;
  if (sealed_older) *sealed_older = false;
  while (next) {
    auto loaded = objects_->LoadSnapshot(*next);
    if (!loaded.ok() && loaded.status().code() == Code::kPermissionDenied && sealed_older) {
      *sealed_older = true;  // recorded before the repository had scopes (keyring.h)
      break;
    }
    ASSIGN_OR_RETURN(SnapshotObject s, std::move(loaded));
    if (s.seq != expect_seq) {
      return Corruption("snapshot " + next->Hex() + " has sequence number " +
                        std::to_string(s.seq) + ", expected " + std::to_string(expect_seq));
    }
    --expect_seq;
    std::optional<ObjectId> parent = s.parent;
    out.push_back(SnapshotInfo{*next, std::move(s)});
    next = parent;
  }
  // The oldest snapshot is #1 unless `forget` dropped older ones: numbers never go back
  // (history.h).
  return out;
}

Result<SnapshotInfo> Repository::LoadSnapshotInfo(const ObjectId& id) const {
  ASSIGN_OR_RETURN(SnapshotObject s, objects_->LoadSnapshot(id));
  return SnapshotInfo{id, std::move(s)};
}

Result<SnapshotInfo> Repository::ResolveVersion(const std::string& version) const {
  if (version.empty() || version == "latest") {
    ASSIGN_OR_RETURN(Versioned<MainRef> main, refs_->ReadMain());
    if (!main.value.head) return NotFound("the repository has no snapshots yet");
    return LoadSnapshotInfo(*main.value.head);
  }
  ASSIGN_OR_RETURN(auto tags, refs_->ReadTags());
  if (auto it = tags.value.find(version); it != tags.value.end())
    return LoadSnapshotInfo(it->second);
  if (!IsLowerHex(version)) return NotFound("no tag or snapshot named '" + version + "'");
  RETURN_IF_ERROR(ValidateSnapshotIdPrefix(version));
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> all, ListSnapshots());
  Result<const SnapshotInfo*> match = FindSnapshotByIdPrefix(all, version);
  if (match.ok()) return **match;
  if (match.status().code() == Code::kNotFound && version.size() == 2 * ObjectId::kSize) {
    // A whole id outside the chain: a snapshot only a tag named (e.g. one gc kept because a lost
    // refs/tags named it), which can be tagged again by its id.
    ASSIGN_OR_RETURN(ObjectId id, ObjectId::FromHex(version));
    ASSIGN_OR_RETURN(bool stored, store_->Contains(id));
    if (stored) return LoadSnapshotInfo(id);
  }
  return match.status();
}

}  // namespace weightfs::repo
