// POSIX ownership and permission rules, shared by the live tree and .versions/: file
// types, who may read, write or search a node by its mode bits, who may chown, chmod and set
// times, sticky and setgid directories. Pure functions of the caller and the node's owner, group
// and mode; the FileSystem decides when to ask (FsOptions::mode_check) and combines the answer
// with the policy (both must allow).
#pragma once

#include <cstdint>
#include <optional>

#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

NodeType NodeTypeOf(repo::EntryType type);
repo::EntryType EntryTypeOf(NodeType type);

// The bits of access(2): what a permission check asks for.
constexpr uint32_t kWantExec = 1;
constexpr uint32_t kWantWrite = 2;
constexpr uint32_t kWantRead = 4;

// What the checks need to know of a node.
struct Owned {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0;  // permission bits (07777)
  bool directory = false;
};

constexpr uint32_t kSetUid = 04000;
constexpr uint32_t kSetGid = 02000;
constexpr uint32_t kSticky = 01000;

// The caller's primary or a supplementary group.
bool InGroup(const Caller& c, uint32_t gid);
// The owner, group or other bits that apply to c allow every bit of want. Root may do anything
// except execute a non-directory that no x bit allows.
bool ModeAllows(const Caller& c, const Owned& node, uint32_t want);
Status CheckMode(const Caller& c, const Owned& node, uint32_t want, const char* what);
// In a sticky directory only the entry's owner, the directory's owner and root may remove or
// rename (or replace) an entry.
Status CheckSticky(const Caller& c, const Owned& dir, const Owned& entry);
// chown/chgrp: root changes anything; the owner may change the group to one it is in (and set
// the owner to itself); everybody else kNotPermitted. Unchanged values are always allowed.
Status CheckChown(const Caller& c, const Owned& node, std::optional<uint32_t> uid,
                  std::optional<uint32_t> gid);
// The mode after a chown of a non-directory by c: setuid and setgid are cleared as Linux does
// (setgid only when group execute is set: without it, it marks mandatory locking).
uint32_t ModeAfterChown(const Owned& node);
// chmod: only the owner or root (kNotPermitted), except that anybody with write permission may
// clear setuid/setgid alone (the kernel does so before such a caller's write); a non-root caller
// outside the file's group setting setgid on a non-directory has it cleared.
Result<uint32_t> ModeAfterChmod(const Caller& c, const Owned& node, uint32_t mode);
// utimens: explicit times need the owner or root; "now" also anybody with write permission.
Status CheckSetTimes(const Caller& c, const Owned& node, bool explicit_times);

}  // namespace weightfs::vfs
