#include "vfs/posix.h"

#include <algorithm>

namespace weightfs::vfs {
namespace {

bool IsRoot(const Caller& c) { return c.uid == 0; }

Status NotPermittedTo(const char* what) {
  return NotPermitted(std::string(what) + ": not permitted");
}

}  // namespace

NodeType NodeTypeOf(repo::EntryType type) {
  switch (type) {
    case repo::EntryType::kFile:
      return NodeType::kFile;
    case repo::EntryType::kDirectory:
      return NodeType::kDirectory;
    case repo::EntryType::kSymlink:
      return NodeType::kSymlink;
    case repo::EntryType::kFifo:
      return NodeType::kFifo;
    case repo::EntryType::kSocket:
      return NodeType::kSocket;
    case repo::EntryType::kCharDevice:
      return NodeType::kCharDevice;
    case repo::EntryType::kBlockDevice:
      return NodeType::kBlockDevice;
  }
  return NodeType::kFile;
}

repo::EntryType EntryTypeOf(NodeType type) {
  switch (type) {
    case NodeType::kFile:
      return repo::EntryType::kFile;
    case NodeType::kDirectory:
      return repo::EntryType::kDirectory;
    case NodeType::kSymlink:
      return repo::EntryType::kSymlink;
    case NodeType::kFifo:
      return repo::EntryType::kFifo;
    case NodeType::kSocket:
      return repo::EntryType::kSocket;
    case NodeType::kCharDevice:
      return repo::EntryType::kCharDevice;
    case NodeType::kBlockDevice:
      return repo::EntryType::kBlockDevice;
  }
  return repo::EntryType::kFile;
}

bool InGroup(const Caller& c, uint32_t gid) {
  return c.gid == gid || std::find(c.groups.begin(), c.groups.end(), gid) != c.groups.end();
}

bool ModeAllows(const Caller& c, const Owned& node, uint32_t want) {
  want &= 7;
  if (IsRoot(c)) {
    // Root reads and writes anything, searches any directory, executes what some x bit allows.
    return !(want & kWantExec) || node.directory || (node.mode & 0111) != 0;
  }
  uint32_t bits = node.mode & 07;
  if (c.uid == node.uid) {
    bits = (node.mode >> 6) & 07;
  } else if (InGroup(c, node.gid)) {
    bits = (node.mode >> 3) & 07;
  }
  return (bits & want) == want;
}

Status CheckMode(const Caller& c, const Owned& node, uint32_t want, const char* what) {
  if (ModeAllows(c, node, want)) return Status::Ok();
  return PermissionDenied(std::string(what) + ": the mode bits do not allow it");
}

Status CheckSticky(const Caller& c, const Owned& dir, const Owned& entry) {
  if (!(dir.mode & kSticky) || IsRoot(c) || c.uid == entry.uid || c.uid == dir.uid)
    return Status::Ok();
  return NotPermittedTo("removing another user's entry from a sticky directory");
}

Status CheckChown(const Caller& c, const Owned& node, std::optional<uint32_t> uid,
                  std::optional<uint32_t> gid) {
  if (IsRoot(c)) return Status::Ok();
  // Even a chown that changes nothing is refused to a non-owner, as on Linux.
  if (c.uid != node.uid)
    return NotPermittedTo("changing the owner or group of another user's file");
  if (uid && *uid != node.uid) return NotPermittedTo("changing the owner");
  if (gid && *gid != node.gid && !InGroup(c, *gid)) {
    return NotPermittedTo("changing the group to one the caller is not in");
  }
  return Status::Ok();
}

uint32_t ModeAfterChown(const Owned& node) {
  if (node.directory) return node.mode;
  uint32_t mode = node.mode & ~kSetUid;
  if (mode & 0010) mode &= ~kSetGid;
  return mode;
}

Result<uint32_t> ModeAfterChmod(const Caller& c, const Owned& node, uint32_t mode) {
  mode &= 07777;
  if (IsRoot(c)) return mode;
  if (c.uid != node.uid) {
    // Before another user's write the kernel clears setuid/setgid (killpriv): write suffices.
    const bool kill_priv = mode != node.mode && mode == (node.mode & ~(kSetUid | kSetGid));
    if (kill_priv && ModeAllows(c, node, kWantWrite)) return mode;
    return NotPermittedTo("changing the mode of another user's file");
  }
  if (!node.directory && (mode & kSetGid) && !InGroup(c, node.gid)) mode &= ~kSetGid;
  return mode;
}

Status CheckSetTimes(const Caller& c, const Owned& node, bool explicit_times) {
  if (IsRoot(c) || c.uid == node.uid) return Status::Ok();
  if (explicit_times) return NotPermittedTo("setting another user's file times");
  return CheckMode(c, node, kWantWrite, "setting the times to now");
}

}  // namespace weightfs::vfs
