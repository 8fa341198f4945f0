// Authorizer: asks the mount's AccessControl about each request, in terms of paths. A path the
// caller may not list does not exist for it (kNotFound); one it may list but not use as asked is
// kPermissionDenied. Below .versions/ the same rules apply to the path as it was in that
// snapshot, together with `history`. Without an AccessControl every check allows.
//
// Thread-safe. Takes the NodeTable's mutex itself, briefly, to turn nodes into paths, and never
// holds it while the AccessControl decides (names may resolve through NSS): callers must not
// hold it either.
#pragma once

#include <optional>
#include <string>

#include "vfs/node_table.h"
#include "vfs/versions.h"
#include "weightfs/core/status.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/access.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class Authorizer {
 public:
  // access: null for a mount without a policy. versions: null without a .versions view.
  Authorizer(AccessControl* access, repo::Repository* repo, NodeTable* table,
             VersionsView* versions);

  bool enabled() const { return access_ != nullptr; }
  AccessControl* access() const { return access_; }

  // The live tree. kNotFound when c may not see the node, kPermissionDenied when it may see it
  // but not cap.
  Status Authorize(const Caller& c, NodeId ino, policy::Capability cap, const char* op)
      EXCLUDES(table_->mu());
  // The same for name in parent; for kCreate (the name may not exist) only kPermissionDenied.
  Status AuthorizeChild(const Caller& c, NodeId parent, const std::string& name,
                        policy::Capability cap, const char* op) EXCLUDES(table_->mu());
  // rename: delete at the source (and everything below it), create at the destination (and
  // below), delete of a replaced destination.
  Status AuthorizeMove(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                       const std::string& new_name) EXCLUDES(table_->mu());
  // A snapshot of the live directory ino: `snapshot` on its path.
  Status AuthorizeSnapshot(const Caller& c, NodeId ino, const char* op) EXCLUDES(table_->mu());

  // The .versions view: ino and (parent, name) are its nodes (name may be .versions in the
  // root).
  Status AuthorizeVersions(const Caller& c, NodeId ino, policy::Capability cap, const char* op);
  Status AuthorizeVersionsChild(const Caller& c, NodeId parent, const std::string& name,
                                policy::Capability cap, const char* op);
  // A snapshot asked for on .versions: `snapshot` on `/`.
  Status AuthorizeVersionsSnapshot(const Caller& c, const char* op);

  // A tag (a snapshot's name) needs `snapshot` on `/`, whichever way it is asked for.
  Status AuthorizeTag(const Caller& c, const char* op);
  // Whether a listing of dir (nullopt: a .versions listing node) shows name to c.
  bool VisibleChild(const Caller& c, const std::optional<std::string>& dir, bool in_versions,
                    const std::string& name);

 private:
  Status AuthorizePath(const Caller& c, const std::optional<std::string>& path, bool in_versions,
                       policy::Capability cap, const char* op);
  // A live node's path (nullopt: unlinked); kNotFound when it is not in the table.
  Result<std::optional<std::string>> LivePath(NodeId ino) EXCLUDES(table_->mu());
  // For a hard-linked node: the first of its paths on which the policy allows c list and cap
  // (a request on a node does not say which name it came through); else path.
  std::optional<std::string> PathForCaller(const Caller& c, NodeId ino, policy::Capability cap,
                                           const std::optional<std::string>& path)
      EXCLUDES(table_->mu());
  // kCreate of path (name in parent): a caller that may create but not list it must not learn
  // that it exists.
  Status AuthorizeCreate(const Caller& c, NodeId parent, const std::string& name,
                         const std::string& path, const char* op) EXCLUDES(table_->mu());
  // The paths below the entry name of parent (relative, "/a/b"), loading what is not loaded;
  // *dest_exists: whether new_name exists in new_parent.
  Status PathsBelow(NodeId parent, const std::string& name, NodeId new_parent,
                    const std::string& new_name, std::vector<std::string>* below, bool* dest_exists)
      EXCLUDES(table_->mu());

  AccessControl* const access_;
  repo::Repository* const repo_;
  NodeTable* const table_;
  VersionsView* const versions_;
};

}  // namespace weightfs::vfs
