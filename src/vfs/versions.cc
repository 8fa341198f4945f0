#include "vfs/versions.h"

#include <ctime>

#include "vfs/file_content.h"
#include "vfs/posix.h"
#include "weightfs/core/clock.h"
#include "weightfs/repo/snapshot_ids.h"

namespace weightfs::vfs {

VersionsView::VersionsView(repo::Repository* repo, Options options)
    : repo_(repo), options_(options) {
  MutexLock lock(&mu_);
  for (NodeId ino : {kTop, kIds, kTags, kByTime}) nodes_[ino] = NewNode(Kind::kFixedDir);
  nodes_[kLatest] = NewNode(Kind::kLink);
}

VersionsView::~VersionsView() = default;

VersionsView::Node VersionsView::NewNode(Kind kind) {
  Node n;
  n.kind = kind;
  return n;
}

VersionsView::Node VersionsView::SnapshotRootNode(const repo::SnapshotInfo& snap) {
  Node node = NewNode(Kind::kTreeDir);
  node.entry.type = repo::EntryType::kDirectory;
  node.entry.mode = 0555;
  node.entry.id = snap.snapshot.root;
  node.entry.mtime_ns = snap.snapshot.time_ns;
  return node;
}

std::string VersionsView::TimeName(int64_t ns) { return FormatUtc(ns, "%Y-%m-%dT%H%M%SZ"); }

void VersionsView::Invalidate() {
  MutexLock lock(&mu_);
  lists_.reset();
}

Result<std::shared_ptr<const VersionsView::Lists>> VersionsView::CurrentLists() {
  {
    MutexLock lock(&mu_);
    if (lists_ && std::chrono::steady_clock::now() - lists_->loaded <
                      std::chrono::duration<double>(options_.refresh_s)) {
      return lists_;
    }
  }
  auto lists = std::make_shared<Lists>();
  // With scopes, snapshots older than the scopes may be closed to this slot: .versions shows the
  // ones it opens.
  bool sealed_older = false;
  ASSIGN_OR_RETURN(lists->snapshots, repo_->ListSnapshots(&sealed_older));
  ASSIGN_OR_RETURN(auto tags, repo_->refs().ReadTags());
  lists->tags = std::move(tags.value);
  lists->loaded = std::chrono::steady_clock::now();
  MutexLock lock(&mu_);
  lists_ = lists;
  return std::shared_ptr<const Lists>(lists);
}

Result<const repo::SnapshotInfo*> VersionsView::FindSnapshot(const Lists& lists,
                                                             const std::string& name) const {
  // Every miss is ENOENT in a directory: a malformed or ambiguous prefix names nothing here.
  Result<const repo::SnapshotInfo*> match = repo::FindSnapshotByIdPrefix(lists.snapshots, name);
  if (!match.ok()) return NotFound(name + ": " + match.status().message());
  return *match;
}

NodeId VersionsView::ChildLocked(NodeId parent, const std::string& name, Node node) {
  node.parent = parent;
  auto key = std::make_pair(parent, name);
  if (auto it = by_name_.find(key); it != by_name_.end()) {
    Node& old = nodes_[it->second];
    // Reuse the node while it still means the same thing (a moved tag gets a new one).
    if (old.kind == node.kind && old.entry.id == node.entry.id && old.link == node.link &&
        old.entry.target == node.entry.target) {
      return it->second;
    }
  }
  NodeId ino = next_ino_++;
  nodes_[ino] = std::move(node);
  by_name_[key] = ino;
  return ino;
}

Attr VersionsView::AttrOf(NodeId ino, const Node& n) const {
  Attr a;
  a.ino = ino;
  a.uid = options_.uid;
  a.gid = options_.gid;
  switch (n.kind) {
    case Kind::kFixedDir:
      a.type = NodeType::kDirectory;
      a.mode = 0555;
      a.nlink = 2;
      break;
    case Kind::kLink:
      a.type = NodeType::kSymlink;
      a.mode = 0777;
      a.size = n.link.size();
      break;
    case Kind::kTreeDir:
      a.type = NodeType::kDirectory;
      a.mode = n.entry.mode;
      a.nlink = 2;
      break;
    case Kind::kFile:  // and special files
      a.type = NodeTypeOf(n.entry.type);
      a.rdev = n.entry.rdev;
      a.mode = n.entry.mode;
      a.size = n.entry.size;
      break;
    case Kind::kSymlink:
      a.type = NodeType::kSymlink;
      a.mode = 0777;
      a.size = n.entry.target.size();
      break;
  }
  a.mtime_ns = a.ctime_ns = a.atime_ns = n.entry.mtime_ns;
  if (n.kind != Kind::kFixedDir && n.kind != Kind::kLink && n.entry.has_owner) {
    a.uid = n.entry.uid;
    a.gid = n.entry.gid;
  }
  // Holes hold no blocks.
  const uint64_t holes = n.kind == Kind::kFile ? std::min(n.entry.hole_bytes, a.size) : 0;
  a.blocks = (a.size - holes + 511) / 512;
  return a;
}

EntryOut VersionsView::EntryOf(NodeId ino, const Node& n, bool listing) const {
  EntryOut e;
  e.attr = AttrOf(ino, n);
  const double t = listing ? options_.listing_timeout_s : options_.content_timeout_s;
  e.entry_timeout = t;
  e.attr_timeout = t;
  return e;
}

Result<EntryOut> VersionsView::LookupTop() {
  MutexLock lock(&mu_);
  return EntryOf(kTop, nodes_[kTop], true);
}

Result<EntryOut> VersionsView::Lookup(NodeId parent, const std::string& name) {
  if (parent == kTop) return LookupFixed(name);
  if (parent == kIds || parent == kTags) return LookupSnapshotRoot(parent, name);
  if (parent == kByTime) return LookupByTime(name);
  Node parent_node;
  {
    MutexLock lock(&mu_);
    auto it = nodes_.find(parent);
    if (it == nodes_.end()) return NotFound("stale node");
    if (it->second.kind != Kind::kTreeDir) return NotDirectory("not a directory");
    auto known = by_name_.find({parent, name});
    if (known != by_name_.end()) return EntryOf(known->second, nodes_[known->second], false);
    parent_node = it->second;
  }
  ASSIGN_OR_RETURN(repo::TreeObject tree, repo_->objects().LoadTree(parent_node.entry.id));
  const repo::TreeEntry* e = tree.Find(name);
  if (!e) return NotFound(name + ": no such file or directory");
  Node node = NewNode(e->type == repo::EntryType::kDirectory ? Kind::kTreeDir
                      : e->type == repo::EntryType::kSymlink ? Kind::kSymlink
                                                             : Kind::kFile);
  node.entry = *e;
  return AddChild(parent, name, std::move(node), false);
}

EntryOut VersionsView::AddChild(NodeId parent, const std::string& name, Node node, bool listing) {
  MutexLock lock(&mu_);
  NodeId ino = ChildLocked(parent, name, std::move(node));
  return EntryOf(ino, nodes_[ino], listing);
}

Result<EntryOut> VersionsView::LookupFixed(const std::string& name) {
  static const std::map<std::string, NodeId> kFixed = {
      {"ids", kIds}, {"tags", kTags}, {"by-time", kByTime}, {"latest", kLatest}};
  auto f = kFixed.find(name);
  if (f == kFixed.end()) return NotFound(name + ": no such file or directory");
  if (f->second == kLatest) {
    ASSIGN_OR_RETURN(auto lists, CurrentLists());
    if (lists->snapshots.empty()) return NotFound("latest: the repository has no snapshots yet");
    MutexLock lock(&mu_);
    Node& latest = nodes_[kLatest];
    latest.link = "ids/" + lists->snapshots.front().id.Hex();
    latest.entry.mtime_ns = lists->snapshots.front().snapshot.time_ns;
    return EntryOf(kLatest, latest, true);
  }
  MutexLock lock(&mu_);
  return EntryOf(f->second, nodes_[f->second], true);
}

Result<EntryOut> VersionsView::LookupSnapshotRoot(NodeId parent, const std::string& name) {
  ASSIGN_OR_RETURN(auto lists, CurrentLists());
  if (parent == kIds) {
    ASSIGN_OR_RETURN(const repo::SnapshotInfo* snap, FindSnapshot(*lists, name));
    return AddChild(parent, name, SnapshotRootNode(*snap), false);
  }
  auto t = lists->tags.find(name);
  if (t == lists->tags.end()) return NotFound(name + ": no such tag");
  for (const auto& s : lists->snapshots) {
    if (s.id == t->second) return AddChild(parent, name, SnapshotRootNode(s), false);
  }
  // A tag may name a snapshot outside the chain (kept by `forget --keep-tagged`).
  ASSIGN_OR_RETURN(repo::SnapshotObject so, repo_->objects().LoadSnapshot(t->second));
  const repo::SnapshotInfo info{t->second, std::move(so)};
  return AddChild(parent, name, SnapshotRootNode(info), false);
}

Result<EntryOut> VersionsView::LookupByTime(const std::string& name) {
  ASSIGN_OR_RETURN(auto lists, CurrentLists());
  for (const auto& s : lists->snapshots) {
    if (TimeName(s.snapshot.time_ns) == name ||
        TimeName(s.snapshot.time_ns) + "_" + s.id.Hex().substr(0, 8) == name) {
      Node node = NewNode(Kind::kLink);
      node.link = "../ids/" + s.id.Hex();
      node.entry.mtime_ns = s.snapshot.time_ns;
      return AddChild(kByTime, name, std::move(node), true);
    }
  }
  return NotFound(name + ": no snapshot at that time");
}

std::optional<std::string> VersionsView::PathInVersion(NodeId ino) const {
  MutexLock lock(&mu_);
  std::string path;
  for (int depth = 0; depth < 4096; ++depth) {
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return std::nullopt;
    const Node& n = it->second;
    if (n.kind == Kind::kLink || ino < kBase + 16) return std::nullopt;  // a listing node
    if (n.parent == kIds || n.parent == kTags)
      return path.empty() ? "/" : path;  // a snapshot's root
    path = "/" + n.entry.name + path;
    ino = n.parent;
  }
  return std::nullopt;
}

Result<Attr> VersionsView::GetAttr(NodeId ino) {
  MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node");
  return AttrOf(ino, it->second);
}

Result<std::string> VersionsView::ReadLink(NodeId ino) {
  if (ino == kLatest) {
    // The kernel may cache the node longer than "latest" stays the same snapshot.
    ASSIGN_OR_RETURN(EntryOut e, Lookup(kTop, "latest"));
    (void)e;
  }
  MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node");
  if (it->second.kind == Kind::kLink) return it->second.link;
  if (it->second.kind == Kind::kSymlink) return it->second.entry.target;
  return InvalidArgument("not a symlink");
}

Result<std::vector<DirEntry>> VersionsView::List(NodeId ino) {
  Node dir;
  {
    MutexLock lock(&mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return NotFound("stale node");
    dir = it->second;
  }
  std::vector<std::string> names;
  if (ino == kTop) {
    names = {"ids", "tags", "by-time", "latest"};
  } else if (ino == kIds || ino == kTags || ino == kByTime) {
    ASSIGN_OR_RETURN(auto lists, CurrentLists());
    if (ino == kIds) {
      for (const auto& s : lists->snapshots) names.push_back(s.id.Hex());
    } else if (ino == kTags) {
      for (const auto& [name, id] : lists->tags) names.push_back(name);
    } else {
      std::map<std::string, int> seen;
      for (const auto& s : lists->snapshots) seen[TimeName(s.snapshot.time_ns)]++;
      for (const auto& s : lists->snapshots) {
        std::string n = TimeName(s.snapshot.time_ns);
        names.push_back(seen[n] > 1 ? n + "_" + s.id.Hex().substr(0, 8) : n);
      }
    }
  } else if (dir.kind == Kind::kTreeDir) {
    ASSIGN_OR_RETURN(repo::TreeObject tree, repo_->objects().LoadTree(dir.entry.id));
    for (const auto& e : tree.entries) names.push_back(e.name);
  } else {
    return NotDirectory("not a directory");
  }
  std::vector<DirEntry> out;
  out.reserve(names.size() + 2);
  Attr self;
  {
    MutexLock lock(&mu_);
    self = AttrOf(ino, nodes_[ino]);
  }
  out.push_back(DirEntry{".", self, 1});
  out.push_back(DirEntry{"..", self, 2});
  for (const std::string& name : names) {
    auto e = Lookup(ino, name);
    if (!e.ok()) continue;  // e.g. "latest" with no snapshots
    out.push_back(DirEntry{name, e->attr, out.size() + 1});
  }
  return out;
}

Result<OpenOut> VersionsView::Open(NodeId ino) {
  std::optional<ObjectId> id;
  std::string name;
  {
    MutexLock lock(&mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return NotFound("stale node");
    if (it->second.kind != Kind::kFile || it->second.entry.type != repo::EntryType::kFile)
      return IsDirectory("not a regular file");
    if (!it->second.content) id = it->second.entry.id;
    name = it->second.entry.name;
  }
  if (id) {
    ASSIGN_OR_RETURN(repo::FileObject file, repo_->objects().LoadFile(*id));
    // An old version's chunks may become unreachable (forget) while the file is open: touched,
    // they look freshly written to gc, whose grace period then keeps them. Live files need no
    // touch: refs/main reaches them. Best effort; a missing chunk reads as EIO.
    for (const repo::ChunkRef& c : file.chunks) {
      if (!c.hole) repo_->store()->Touch(c.id).IgnoreError();
    }
    auto content = std::make_shared<FileContent>(repo_, std::move(file), nullptr);
    if (options_.reader) content->SetReader(options_.reader, repo::IsWeightFileName(name));
    MutexLock lock(&mu_);
    if (!nodes_[ino].content) nodes_[ino].content = std::move(content);
  }
  OpenOut out;
  out.keep_cache = true;  // snapshot content never changes
  return out;
}

Status VersionsView::Read(NodeId ino, uint64_t offset, uint64_t size, PieceList* out) {
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, Content(ino));
  return content->Read(offset, size, out);
}

Result<std::shared_ptr<FileContent>> VersionsView::Content(NodeId ino) {
  std::shared_ptr<FileContent> content;
  {
    MutexLock lock(&mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return NotFound("stale node");
    content = it->second.content;
  }
  if (!content) {
    RETURN_IF_ERROR(Open(ino).status());
    MutexLock lock(&mu_);
    content = nodes_[ino].content;
  }
  return content;
}

Result<Bytes> VersionsView::GetXattr(NodeId ino, const std::string& name) {
  MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node");
  auto x = it->second.entry.xattrs.find(name);
  if (x == it->second.entry.xattrs.end()) return NotFound("no attribute " + name);
  return x->second;
}

Result<std::vector<std::string>> VersionsView::ListXattr(NodeId ino) {
  MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node");
  std::vector<std::string> out;
  for (const auto& [k, v] : it->second.entry.xattrs) out.push_back(k);
  return out;
}

}  // namespace weightfs::vfs
