// FileSystem mode bits (issue #10): the POSIX permission checks of vfs/posix.h applied to the
// live tree's nodes and to .versions/, when FsOptions::mode_check is on. The policy is checked
// separately (filesystem_access.cc); a request needs both.
#include "vfs/node.h"
#include "vfs/posix.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

Status FileSystem::CheckModeLocked(const Caller& c, const Node* n, uint32_t want,
                                   const char* op) const {
  if (!options_.mode_check) return Status::Ok();
  for (const Node* d = n->parent; d; d = d->parent)
    RETURN_IF_ERROR(vfs::CheckMode(c, d->owned(), kWantExec, op));
  return vfs::CheckMode(c, n->owned(), want, op);
}

Status FileSystem::CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op) {
  if (!options_.mode_check) return Status::Ok();
  if (versions_ && VersionsView::Owns(ino)) {
    // A snapshot's entries keep their owners and modes; its directories above are not checked
    // again here (a lookup through them was).
    ASSIGN_OR_RETURN(Attr a, versions_->GetAttr(ino));
    return vfs::CheckMode(c, Owned{a.uid, a.gid, a.mode, a.type == NodeType::kDirectory}, want, op);
  }
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  return CheckModeLocked(c, n, want, op);
}

Status FileSystem::CheckAddLocked(const Caller& c, const Node* dir, const char* op) const {
  return CheckModeLocked(c, dir, kWantWrite | kWantExec, op);
}

Status FileSystem::CheckRemoveLocked(const Caller& c, const Node* dir, const Node* n,
                                     const char* op) const {
  if (!options_.mode_check) return Status::Ok();
  RETURN_IF_ERROR(CheckAddLocked(c, dir, op));
  return CheckSticky(c, dir->owned(), n->owned());
}

Status FileSystem::CheckRenameLocked(const Caller& c, const Node* from_dir, const Node* n,
                                     const Node* to_dir) const {
  if (!options_.mode_check) return Status::Ok();
  RETURN_IF_ERROR(CheckRemoveLocked(c, from_dir, n, "rename"));
  RETURN_IF_ERROR(CheckAddLocked(c, to_dir, "rename"));
  if (n->type == repo::EntryType::kDirectory && from_dir != to_dir) {
    RETURN_IF_ERROR(vfs::CheckMode(c, n->owned(), kWantWrite, "rename"));
  }
  return Status::Ok();
}

Status FileSystem::CheckLinkSourceLocked(const Caller& c, const Node* n) const {
  if (!options_.mode_check || c.uid == 0 || c.uid == n->uid) return Status::Ok();
  const bool privileged = (n->mode & kSetUid) || ((n->mode & kSetGid) && (n->mode & 0010));
  if (n->type != repo::EntryType::kFile || privileged) {
    return NotPermitted("link: only the owner may link a special or set-id file");
  }
  if (!ModeAllows(c, n->owned(), kWantRead | kWantWrite)) {
    return NotPermitted("link: another user's file needs read and write permission");
  }
  return Status::Ok();
}

Status FileSystem::ApplyOwnershipLocked(const Caller& c, Node* n, const SetAttrRequest& req) {
  // Ownership follows POSIX whether or not mode bits are enforced (else anybody could give files
  // away); chmod's and utimens' rules only with mode_check (without, the policy alone decides).
  const bool chown = req.set_uid || req.set_gid;
  if (chown) {
    RETURN_IF_ERROR(CheckChown(c, n->owned(), req.set_uid ? std::optional(req.uid) : std::nullopt,
                               req.set_gid ? std::optional(req.gid) : std::nullopt));
  }
  if (options_.mode_check && (req.set_mtime || req.set_atime)) {
    RETURN_IF_ERROR(CheckSetTimes(c, n->owned(), !req.times_now));
  }
  uint32_t mode = req.mode & 07777;
  if (req.set_mode && options_.mode_check) {
    ASSIGN_OR_RETURN(mode, ModeAfterChmod(c, n->owned(), mode));
  }
  if (chown) {
    n->mode = ModeAfterChown(n->owned());
    n->has_owner = true;  // from now on stored (it showed the mounting user until now)
    if (req.set_uid) n->uid = req.uid;
    if (req.set_gid) n->gid = req.gid;
  }
  if (req.set_mode) n->mode = mode;
  return Status::Ok();
}

}  // namespace weightfs::vfs
