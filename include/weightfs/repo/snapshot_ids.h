// Snapshot ids as people type them: the whole 64-digit hex id or a unique prefix of it. The one
// prefix matcher for every layer that resolves typed ids (the CLI's versions, the .versions
// directory of a mount).
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {

struct SnapshotInfo {
  ObjectId id;
  SnapshotObject snapshot;
};

// The fewest hex digits a snapshot id prefix may have.
inline constexpr size_t kMinSnapshotIdPrefix = 8;

// Ok when prefix can name a snapshot: lowercase hex (IsLowerHex) of at least kMinSnapshotIdPrefix
// digits; kInvalidArgument saying why not otherwise.
Status ValidateSnapshotIdPrefix(std::string_view prefix);

// The one snapshot in `snapshots` whose id, in lowercase hex, starts with `prefix`.
// kInvalidArgument when ValidateSnapshotIdPrefix refuses prefix or it matches more than one
// snapshot; kNotFound when it matches none
// (a prefix longer than an id matches none). The result points into `snapshots`.
Result<const SnapshotInfo*> FindSnapshotByIdPrefix(const std::vector<SnapshotInfo>& snapshots,
                                                   std::string_view prefix);

}  // namespace weightfs::repo
