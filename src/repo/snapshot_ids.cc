#include "weightfs/repo/snapshot_ids.h"

#include <string>

#include "weightfs/core/names.h"

namespace weightfs::repo {

Status ValidateSnapshotIdPrefix(std::string_view prefix) {
  const std::string quoted = "'" + std::string(prefix) + "'";
  if (!IsLowerHex(prefix)) {
    return InvalidArgument(quoted + " is not a snapshot id prefix (lowercase hex digits)");
  }
  if (prefix.size() < kMinSnapshotIdPrefix) {
    return InvalidArgument("a snapshot id prefix needs at least " +
                           std::to_string(kMinSnapshotIdPrefix) + " hex digits: " + quoted);
  }
  return Status::Ok();
}

Result<const SnapshotInfo*> FindSnapshotByIdPrefix(const std::vector<SnapshotInfo>& snapshots,
                                                   std::string_view prefix) {
  RETURN_IF_ERROR(ValidateSnapshotIdPrefix(prefix));
  const std::string quoted = "'" + std::string(prefix) + "'";
  const SnapshotInfo* match = nullptr;
  for (const SnapshotInfo& s : snapshots) {
    if (s.id.Hex().compare(0, prefix.size(), prefix) == 0) {
      if (match) return InvalidArgument("snapshot id prefix " + quoted + " is ambiguous");
      match = &s;
    }
  }
  if (!match) return NotFound("no snapshot with id " + quoted);
  return match;
}

}  // namespace weightfs::repo
