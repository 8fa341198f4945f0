// LiveTree mode bits: the POSIX permission checks of vfs/posix.h applied to the live tree's
// nodes, when FsOptions::mode_check is on. The policy is checked separately (Authorizer); a
// request needs both. (VersionsTree::CheckMode does the same for .versions nodes.)
#include "vfs/live_tree.h"
#include "vfs/posix.h"

namespace weightfs::vfs {

Status LiveTree::CheckMode(const Caller& c, const Node* n, uint32_t want, const char* op) const {
  if (!ctx_->options->mode_check) return Status::Ok();
  for (const Node* d = n->parent; d; d = d->parent)
    RETURN_IF_ERROR(vfs::CheckMode(c, d->owned(), kWantExec, op));
  return vfs::CheckMode(c, n->owned(), want, op);
}

Status LiveTree::CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op) {
  if (!ctx_->options->mode_check) return Status::Ok();
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  return CheckMode(c, n, want, op);
}

Status LiveTree::CheckAdd(const Caller& c, const Node* dir, const char* op) const {
  return CheckMode(c, dir, kWantWrite | kWantExec, op);
}

Status LiveTree::CheckRemove(const Caller& c, const Node* dir, const Node* n,
                             const char* op) const {
  if (!ctx_->options->mode_check) return Status::Ok();
  RETURN_IF_ERROR(CheckAdd(c, dir, op));
  return CheckSticky(c, dir->owned(), n->owned());
}

Status LiveTree::CheckRenameMode(const Caller& c, const Node* from_dir, const Node* n,
                                 const Node* to_dir) const {
  if (!ctx_->options->mode_check) return Status::Ok();
  RETURN_IF_ERROR(CheckRemove(c, from_dir, n, "rename"));
  RETURN_IF_ERROR(CheckAdd(c, to_dir, "rename"));
  if (n->type == repo::EntryType::kDirectory && from_dir != to_dir) {
    RETURN_IF_ERROR(vfs::CheckMode(c, n->owned(), kWantWrite, "rename"));
  }
  return Status::Ok();
}

Status LiveTree::CheckLinkSource(const Caller& c, const Node* n) const {
  if (!ctx_->options->mode_check || c.uid == 0 || c.uid == n->uid) return Status::Ok();
  const bool privileged = (n->mode & kSetUid) || ((n->mode & kSetGid) && (n->mode & 0010));
  if (n->type != repo::EntryType::kFile || privileged) {
    return NotPermitted("link: only the owner may link a special or set-id file");
  }
  if (!ModeAllows(c, n->owned(), kWantRead | kWantWrite)) {
    return NotPermitted("link: another user's file needs read and write permission");
  }
  return Status::Ok();
}

Status LiveTree::ApplyOwnership(const Caller& c, Node* n, const SetAttrRequest& req) const {
  // Ownership follows POSIX whether or not mode bits are enforced (else anybody could give files
  // away); chmod's and utimens' rules only with mode_check (without, the policy alone decides).
  const bool chown = req.set_uid || req.set_gid;
  if (chown) {
    RETURN_IF_ERROR(CheckChown(c, n->owned(), req.set_uid ? std::optional(req.uid) : std::nullopt,
                               req.set_gid ? std::optional(req.gid) : std::nullopt));
  }
  if (ctx_->options->mode_check && (req.set_mtime || req.set_atime)) {
    RETURN_IF_ERROR(CheckSetTimes(c, n->owned(), !req.times_now));
  }
  uint32_t mode = req.mode & 07777;
  if (req.set_mode && ctx_->options->mode_check) {
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
