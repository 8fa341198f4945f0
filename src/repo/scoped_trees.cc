// ObjectLayer in a repository with scopes: handles, and directories split into one tree object
// per scope and merged back (object_layer.h).
#include <algorithm>
#include <map>

#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/object_layer.h"

namespace weightfs::repo {
namespace {

std::string ChildPath(std::string_view dir, const std::string& name) {
  return dir == "/" ? "/" + name : std::string(dir) + "/" + name;
}

}  // namespace

void ObjectLayer::SetScopeResolver(ScopeResolver resolver) {
  MutexLock lock(&scope_mu_);
  resolver_ = std::move(resolver);
}

std::string ObjectLayer::ScopeOf(std::string_view path) const {
  if (!scoped()) return kDefaultScope;
  ScopeResolver resolver;
  {
    MutexLock lock(&scope_mu_);
    resolver = resolver_;
  }
  return resolver ? resolver(path) : std::string(kDefaultScope);
}

Result<uint32_t> ObjectLayer::WriteKeyFor(std::string_view path) const {
  if (!scoped()) return kLegacyKeyId;
  ScopeResolver resolver;
  {
    MutexLock lock(&scope_mu_);
    resolver = resolver_;
  }
  if (!resolver) {
    return Internal("writing " + std::string(path) +
                    ": the scopes of the repository's policy are not loaded");
  }
  const std::string scope = resolver(path);
  const ScopeKeyInfo* key = NewestKeyOf(registry_, scope);
  if (!key) {
    return InvalidArgument("cannot write " + std::string(path) + ": its scope " + scope +
                           " has no keys yet (refs/keys); `weightfs policy set` makes them");
  }
  if (!keys_->Holds(key->key_id)) {
    return PermissionDenied("cannot write " + std::string(path) + ": it is in scope " + scope +
                            ", whose keys this key slot does not hold");
  }
  return key->key_id;
}

uint32_t ObjectLayer::UnscopedKeyId() const {
  WFS_CHECK(!scoped());
  return kLegacyKeyId;
}

bool ObjectLayer::HoldsAllKeys() const {
  return std::all_of(registry_.begin(), registry_.end(),
                     [&](const ScopeKeyInfo& k) { return keys_->Holds(k.key_id); });
}

std::string ObjectLayer::ScopeOfKey(uint32_t key_id) const {
  if (!scoped()) return key_id == kLegacyKeyId ? kDefaultScope : "";
  if (key_id == kCommonKeyId) return "(snapshots and policies)";
  for (const ScopeKeyInfo& k : registry_) {
    if (k.key_id == key_id) return k.scope;
  }
  return "";
}

ObjectId ObjectLayer::MakeHandle(std::string path, std::vector<ScopedRoot> fragments) const {
  std::sort(fragments.begin(), fragments.end());
  Bytes message;
  PutLengthPrefixed(&message, AsBytes(path));
  PutScopedRoots(&message, fragments);
  auto mac = crypto::HmacSha256(handle_key_.view(), {message});
  WFS_CHECK(mac.ok());
  ObjectId id = *ObjectId::FromBytes(*mac);
  MutexLock lock(&handles_mu_);
  handles_.try_emplace(id, Handle{std::move(path), std::move(fragments)});
  return id;
}

Result<ObjectLayer::Handle> ObjectLayer::FindHandle(const ObjectId& id) const {
  MutexLock lock(&handles_mu_);
  auto it = handles_.find(id);
  if (it == handles_.end()) {
    return Internal("tree " + id.Hex() + " is not a directory this process has seen");
  }
  return it->second;
}

void ObjectLayer::RememberKeyId(const ObjectId& id, uint32_t key_id, bool written) const {
  MutexLock lock(&handles_mu_);
  key_ids_[id] = key_id;
  if (written) named_under_[id].insert(key_id);  // this process chose its scope
}

void ObjectLayer::RememberNaming(const std::string& path, const ObjectId& id,
                                 uint32_t key_id) const {
  MutexLock lock(&handles_mu_);
  named_at_[path] = ScopedRoot{key_id, id};
  named_under_[id].insert(key_id);
}

Status ObjectLayer::CheckMove(const std::string& path, const ObjectId& id,
                              uint32_t sealed_under) const {
  MutexLock lock(&handles_mu_);
  // Seen at this path: the tree that named it must be of the scope it is sealed under. Brought
  // from elsewhere (a restore, a rename): some tree of its own scope named it, or this process
  // wrote it.
  auto at = named_at_.find(path);
  bool fine = false;
  if (at != named_at_.end() && at->second.id == id) {
    fine = at->second.key_id == sealed_under;
  } else {
    auto under = named_under_.find(id);
    fine = under != named_under_.end() && under->second.contains(sealed_under);
  }
  if (fine) return Status::Ok();
  return Corruption("file object " + id.Hex() + " at " + path + " is sealed under scope " +
                    ScopeOfKey(sealed_under) +
                    "'s keys but was named by another scope's tree: refusing to move it into "
                    "its path's scope (a tree entry that points into another scope)");
}

Result<uint32_t> ObjectLayer::KeyIdOf(const ObjectId& id) const {
  {
    MutexLock lock(&handles_mu_);
    auto it = key_ids_.find(id);
    if (it != key_ids_.end()) return it->second;
  }
  // Not seen in this process: the header says, and it is authenticated once the object opens.
  ASSIGN_OR_RETURN(Bytes sealed, store_->Get(id));
  auto plain = cipher_->Open(static_cast<uint8_t>(ObjectType::kFile), id, sealed);
  if (!plain.ok()) return plain.status().WithContext("file object " + id.Hex());
  uint32_t key_id = 0;
  for (int i = 0; i < 4; ++i) key_id |= uint32_t{sealed[8 + i]} << (8 * i);
  RememberKeyId(id, key_id, /*written=*/false);
  return key_id;
}

ObjectId ObjectLayer::HandleOf(const std::vector<ScopedRoot>& roots) const {
  return MakeHandle("/", roots);
}

Result<std::vector<ScopedRoot>> ObjectLayer::RootsOf(const ObjectId& handle) const {
  ASSIGN_OR_RETURN(Handle h, FindHandle(handle));
  if (h.path != "/") return Internal("tree " + handle.Hex() + " is " + h.path + ", not a root");
  return h.fragments;
}

Result<std::vector<ScopedRoot>> ObjectLayer::FragmentsOf(const ObjectId& tree) const {
  if (!scoped()) return std::vector<ScopedRoot>{ScopedRoot{kLegacyKeyId, tree}};
  ASSIGN_OR_RETURN(Handle h, FindHandle(tree));
  return h.fragments;
}

Result<std::vector<ObjectId>> ObjectLayer::StoredTreesOf(const std::vector<ObjectId>& trees) const {
  std::vector<ObjectId> out;
  for (const ObjectId& t : trees) {
    ASSIGN_OR_RETURN(std::vector<ScopedRoot> fragments, FragmentsOf(t));
    for (const ScopedRoot& f : fragments) out.push_back(f.id);
  }
  return out;
}

Result<TreeObject> ObjectLayer::LoadTree(const ObjectId& id) const {
  if (!scoped()) return LoadStoredTree(id);
  ASSIGN_OR_RETURN(Handle h, FindHandle(id));
  return MergeFragments(h);
}

Result<TreeObject> ObjectLayer::MergeFragments(const Handle& h) const {
  // Per name: the entry to show (its own scope's, when this slot holds that fragment; else the
  // first), and for a directory every fragment that names it.
  struct Seen {
    TreeEntry entry;
    uint32_t key_id = 0;
    bool own = false;
    std::vector<ScopedRoot> dirs;
  };
  std::map<std::string, Seen> merged;
  for (const ScopedRoot& f : h.fragments) {
    if (!keys_->Holds(f.key_id)) continue;
    ASSIGN_OR_RETURN(TreeObject t, LoadStoredTree(f.id));
    const std::string scope = ScopeOfKey(f.key_id);
    for (TreeEntry& e : t.entries) {
      const bool own = scope == ScopeOf(ChildPath(h.path, e.name));
      auto [it, fresh] = merged.try_emplace(e.name);
      Seen& s = it->second;
      if (e.type == EntryType::kDirectory) s.dirs.push_back(ScopedRoot{f.key_id, e.id});
      if (fresh || (own && !s.own)) {
        s.entry = std::move(e);
        s.key_id = f.key_id;
        s.own = own;
      }
    }
  }
  TreeObject out;
  out.entries.reserve(merged.size());
  for (auto& [name, s] : merged) {
    TreeEntry e = std::move(s.entry);
    if (e.type == EntryType::kDirectory) {
      e.id = MakeHandle(ChildPath(h.path, name), std::move(s.dirs));
    } else if (e.type == EntryType::kFile) {
      RememberNaming(ChildPath(h.path, name), e.id, s.key_id);
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

Result<ObjectId> ObjectLayer::PutTree(const TreeObject& tree, std::string_view dir_path,
                                      const std::optional<ObjectId>& base) {
  if (!scoped()) return PutObject(ObjectType::kTree, EncodeTree(tree), kLegacyKeyId);
  return SplitTree(tree, dir_path, base);
}

Result<ObjectId> ObjectLayer::Rescope(const ObjectId& dir, std::string_view path) {
  if (!scoped()) return dir;
  ASSIGN_OR_RETURN(TreeObject tree, LoadTree(dir));
  const std::string here(path);
  for (TreeEntry& e : tree.entries) {
    if (e.type != EntryType::kDirectory) continue;
    ASSIGN_OR_RETURN(e.id, Rescope(e.id, ChildPath(here, e.name)));
  }
  return PutTree(tree, here, dir);
}

Result<ObjectId> ObjectLayer::EmptyTreeUnder(uint32_t key_id) {
  return PutObject(ObjectType::kTree, EncodeTree(TreeObject{}), key_id);
}

Result<ObjectId> ObjectLayer::Reseal(const ObjectId& file, uint32_t key_id) {
  ASSIGN_OR_RETURN(FileObject f, LoadFile(file));
  for (ChunkRef& c : f.chunks) {
    if (c.hole) continue;
    ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kChunk, c.id));
    ASSIGN_OR_RETURN(c.id, PutObject(ObjectType::kChunk, plain, key_id));
  }
  return PutFile(f, key_id);
}

Result<ObjectId> ObjectLayer::SplitTree(const TreeObject& tree, std::string_view dir_path,
                                        const std::optional<ObjectId>& base) {
  const std::string dir(dir_path);
  std::map<uint32_t, TreeObject> fragments;
  // The directory's own scope has a fragment even when empty (it carries the directory).
  auto own = WriteKeyFor(dir);
  if (own.ok()) {
    fragments[*own];
  } else if (own.status().code() != Code::kPermissionDenied) {
    return own.status();
  }
  std::vector<ScopedRoot> out;
  if (base) {  // what this slot cannot open stays as it was (it cannot see it to change it)
    ASSIGN_OR_RETURN(Handle b, FindHandle(*base));
    for (const ScopedRoot& f : b.fragments) {
      if (!keys_->Holds(f.key_id)) out.push_back(f);
    }
  }
  for (const TreeEntry& e : tree.entries) {
    RETURN_IF_ERROR(SplitEntry(e, ChildPath(dir, e.name), &fragments));
  }
  for (auto& [key, t] : fragments) {
    std::sort(t.entries.begin(), t.entries.end(),
              [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
    ASSIGN_OR_RETURN(ObjectId id, PutObject(ObjectType::kTree, EncodeTree(t), key));
    out.push_back(ScopedRoot{key, id});
  }
  return MakeHandle(dir, std::move(out));
}

Status ObjectLayer::SplitEntry(const TreeEntry& e, const std::string& child,
                               std::map<uint32_t, TreeObject>* fragments) {
  auto write_key = WriteKeyFor(child);
  // A directory of a scope this slot cannot write may still lead to scopes it can: then only
  // their fragments name it.
  if (!write_key.ok() &&
      (e.type != EntryType::kDirectory || write_key.status().code() != Code::kPermissionDenied)) {
    return write_key.status();
  }
  TreeEntry mine = e;
  if (e.type == EntryType::kDirectory) {
    const std::optional<uint32_t> key =
        write_key.ok() ? std::optional<uint32_t>(*write_key) : std::nullopt;
    // The directory is named in every fragment of this one whose scope has something in it (its
    // fragment in that scope), and in its own scope's.
    ASSIGN_OR_RETURN(Handle c, FindHandle(e.id));
    if (c.path != child) {  // moved here (a restore to another path): split it for here
      ASSIGN_OR_RETURN(ObjectId moved, Rescope(e.id, child));
      ASSIGN_OR_RETURN(c, FindHandle(moved));
    }
    bool named = false, any = false;
    for (const ScopedRoot& f : c.fragments) {
      if (!keys_->Holds(f.key_id)) continue;  // named by a fragment of ours kept as it was
      TreeEntry through = e;
      through.id = f.id;
      if (f.key_id != key) through.xattrs.clear();  // another scope's: no more than needed
      named = named || f.key_id == key;
      any = true;
      (*fragments)[f.key_id].entries.push_back(std::move(through));
    }
    if (named || (!key && any)) return Status::Ok();
    if (!key) return write_key.status();  // it would hold nothing this slot may write
    ASSIGN_OR_RETURN(mine.id, EmptyTreeUnder(*key));
  } else if (e.type == EntryType::kFile) {
    ASSIGN_OR_RETURN(uint32_t sealed_under, KeyIdOf(e.id));
    if (sealed_under != *write_key) {
      RETURN_IF_ERROR(CheckMove(child, e.id, sealed_under));
      auto moved = Reseal(e.id, *write_key);
      if (!moved.ok()) {
        return moved.status().WithContext("moving " + child + " to scope " +
                                          ScopeOfKey(*write_key));
      }
      mine.id = *moved;
    }
  }
  (*fragments)[*write_key].entries.push_back(std::move(mine));
  return Status::Ok();
}

}  // namespace weightfs::repo
