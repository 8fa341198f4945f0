#include "weightfs/repo/objects.h"

#include <algorithm>
#include <random>

namespace weightfs::repo {
namespace {

constexpr uint8_t kEncodingVersion = 1;
// File objects with holes, and trees naming such files (see objects.h).
constexpr uint8_t kHoleEncodingVersion = 2;
constexpr uint8_t kPieceChunk = 1;
constexpr uint8_t kPieceHole = 2;
// Snapshots of a repository with scopes: a root per scope instead of one root.
constexpr uint8_t kScopedSnapshotVersion = 2;

void PutId(Bytes* out, const ObjectId& id) { PutBytes(out, id.bytes()); }

Result<ObjectId> GetId(Reader* r) {
  ASSIGN_OR_RETURN(ByteView b, r->Raw(ObjectId::kSize));
  return ObjectId::FromBytes(b);
}

void PutString(Bytes* out, const std::string& s) { PutLengthPrefixed(out, AsBytes(s)); }

}  // namespace

void PutScopedRoots(Bytes* out, const std::vector<ScopedRoot>& roots) {
  PutU32(out, static_cast<uint32_t>(roots.size()));
  for (const ScopedRoot& r : roots) {
    PutU32(out, r.key_id);
    PutId(out, r.id);
  }
}

Result<std::vector<ScopedRoot>> GetScopedRoots(Reader* r, const char* what) {
  ASSIGN_OR_RETURN(uint32_t n, r->U32());
  if (n == 0 || n > kMaxScopedRoots || n > r->remaining() / (4 + ObjectId::kSize))
    return Corruption(std::string(what) + " has a bad number of scope roots");
  std::vector<ScopedRoot> roots(n);
  for (uint32_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(roots[i].key_id, r->U32());
    ASSIGN_OR_RETURN(roots[i].id, GetId(r));
    if (i > 0 && roots[i].key_id <= roots[i - 1].key_id)
      return Corruption(std::string(what) + " has scope roots out of order");
  }
  return roots;
}

namespace {

Result<uint8_t> CheckVersion(Reader* r, const char* what, uint8_t newest = kEncodingVersion) {
  ASSIGN_OR_RETURN(uint8_t v, r->U8());
  if (v < kEncodingVersion || v > newest) {
    return Status(v > newest ? Code::kUnsupported : Code::kCorruption,
                  std::string(what) + " encoding v" + std::to_string(v) + " is not supported");
  }
  return v;
}

// A presence flag: 0 or 1, as the encoders write it.
Result<bool> GetFlag(Reader* r, const char* what) {
  ASSIGN_OR_RETURN(uint8_t v, r->U8());
  if (v > 1) return Corruption(std::string(what) + " has a flag byte of " + std::to_string(v));
  return v == 1;
}

Status CheckDone(const Reader& r, const char* what) {
  if (!r.done()) return Corruption(std::string(what) + " has trailing bytes");
  return Status::Ok();
}

}  // namespace

const char* ObjectTypeName(ObjectType type) {
  switch (type) {
    case ObjectType::kChunk:
      return "chunk";
    case ObjectType::kFile:
      return "file";
    case ObjectType::kTree:
      return "tree";
    case ObjectType::kSnapshot:
      return "snapshot";
    case ObjectType::kPolicy:
      return "policy";
  }
  return "unknown";
}

Status ValidateName(const std::string& name) {
  if (name.empty() || name == "." || name == "..")
    return InvalidArgument("invalid name '" + name + "'");
  if (name.size() > 255) return NameTooLong("name longer than 255 bytes: '" + name + "'");
  if (name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return InvalidArgument("name contains '/' or NUL: '" + name + "'");
  }
  return Status::Ok();
}

const TreeEntry* TreeObject::Find(const std::string& name) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), name,
                             [](const TreeEntry& e, const std::string& n) { return e.name < n; });
  if (it == entries.end() || it->name != name) return nullptr;
  return &*it;
}

uint64_t FileObject::HoleBytes() const {
  uint64_t n = 0;
  for (const ChunkRef& c : chunks) {
    if (c.hole) n += c.size;
  }
  return n;
}

Bytes EncodeFile(const FileObject& file) {
  const bool holes =
      std::any_of(file.chunks.begin(), file.chunks.end(), [](const ChunkRef& c) { return c.hole; });
  Bytes out;
  out.reserve(16 + file.chunks.size() * 37);
  // Without holes, exactly the bytes (and so the ids) of the files written before holes existed.
  PutU8(&out, holes ? kHoleEncodingVersion : kEncodingVersion);
  PutU64(&out, file.size);
  PutU64(&out, file.chunks.size());
  for (const ChunkRef& c : file.chunks) {
    if (holes) PutU8(&out, c.hole ? kPieceHole : kPieceChunk);
    if (c.hole) {
      PutU64(&out, c.size);
      continue;
    }
    WFS_CHECK(c.size <= UINT32_MAX);
    PutId(&out, c.id);
    PutU32(&out, static_cast<uint32_t>(c.size));
  }
  return out;
}

Result<FileObject> DecodeFile(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t version, CheckVersion(&r, "file", kHoleEncodingVersion));
  const bool tagged = version == kHoleEncodingVersion;
  FileObject f;
  ASSIGN_OR_RETURN(f.size, r.U64());
  ASSIGN_OR_RETURN(uint64_t n, r.U64());
  // The smallest piece: a hole (tag + size) in v2, a chunk (id + size) in v1.
  if (n > r.remaining() / (tagged ? 9 : 36))
    return Corruption("file object lists more chunks than it holds");
  f.chunks.reserve(n);
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    ChunkRef c;
    uint8_t kind = kPieceChunk;
    if (tagged) {
      ASSIGN_OR_RETURN(kind, r.U8());
    }
    if (kind == kPieceHole) {
      c.hole = true;
      ASSIGN_OR_RETURN(c.size, r.U64());
      if (c.size == 0) return Corruption("file object has an empty hole");
    } else if (kind == kPieceChunk) {
      ASSIGN_OR_RETURN(c.id, GetId(&r));
      ASSIGN_OR_RETURN(uint32_t size, r.U32());
      if (size == 0) return Corruption("file object has an empty chunk");
      c.size = size;
    } else {
      return Corruption("file object has a piece of unknown kind " + std::to_string(kind));
    }
    if (c.size > UINT64_MAX - total) return Corruption("file object's pieces overflow its size");
    total += c.size;
    f.chunks.push_back(c);
  }
  if (total != f.size) return Corruption("file object's chunks do not add up to its size");
  RETURN_IF_ERROR(CheckDone(r, "file object"));
  return f;
}

namespace {

// Trees naming an owner, a special file or a device number (see TreeEntry).
constexpr uint8_t kOwnerEncodingVersion = 3;
constexpr uint8_t kEntryHasOwner = 1;
constexpr uint8_t kEntryHasRdev = 2;
constexpr uint8_t kEntryHasLinkGroup = 4;
constexpr uint8_t kEntryFlags = kEntryHasOwner | kEntryHasRdev | kEntryHasLinkGroup;

bool NeedsOwnerEncoding(const TreeEntry& e) {
  return e.has_owner || IsSpecial(e.type) || e.rdev != 0 || e.link_group != 0;
}

uint8_t TreeEncodingFor(const TreeObject& tree) {
  const auto& es = tree.entries;
  if (std::any_of(es.begin(), es.end(), NeedsOwnerEncoding)) return kOwnerEncodingVersion;
  if (std::any_of(es.begin(), es.end(), [](const TreeEntry& e) { return e.hole_bytes != 0; })) {
    return kHoleEncodingVersion;
  }
  return kEncodingVersion;
}

void PutEntry(Bytes* out, const TreeEntry& e, uint8_t version) {
  PutString(out, e.name);
  PutU8(out, static_cast<uint8_t>(e.type));
  PutU32(out, e.mode);
  PutU64(out, e.size);
  PutU64(out, static_cast<uint64_t>(e.mtime_ns));
  PutU32(out, static_cast<uint32_t>(e.xattrs.size()));
  for (const auto& [k, v] : e.xattrs) {
    PutString(out, k);
    PutLengthPrefixed(out, v);
  }
  PutId(out, e.id);
  PutString(out, e.target);
  if (version >= kHoleEncodingVersion) PutU64(out, e.hole_bytes);
  if (version < kOwnerEncodingVersion) return;
  PutU8(out, (e.has_owner ? kEntryHasOwner : 0) | (e.rdev != 0 ? kEntryHasRdev : 0) |
                 (e.link_group != 0 ? kEntryHasLinkGroup : 0));
  if (e.has_owner) {
    PutU32(out, e.uid);
    PutU32(out, e.gid);
  }
  if (e.rdev != 0) PutU64(out, e.rdev);
  if (e.link_group != 0) PutU64(out, e.link_group);
}

// The fields v3 adds after hole_bytes.
Status GetOwnerFields(Reader* r, TreeEntry* e) {
  ASSIGN_OR_RETURN(uint8_t flags, r->U8());
  if (flags & ~kEntryFlags) return Corruption("tree entry has unknown flags");
  e->has_owner = flags & kEntryHasOwner;
  if (e->has_owner) {
    ASSIGN_OR_RETURN(e->uid, r->U32());
    ASSIGN_OR_RETURN(e->gid, r->U32());
  }
  if (flags & kEntryHasRdev) {
    ASSIGN_OR_RETURN(e->rdev, r->U64());
    const bool device = e->type == EntryType::kCharDevice || e->type == EntryType::kBlockDevice;
    if (e->rdev == 0 || !device)
      return Corruption("tree entry has a device number but is no device");
  }
  if (flags & kEntryHasLinkGroup) {
    ASSIGN_OR_RETURN(e->link_group, r->U64());
    if (e->link_group == 0 || e->type == EntryType::kDirectory) {
      return Corruption("tree entry has a link group but cannot be hard-linked");
    }
  }
  return Status::Ok();
}

Result<TreeEntry> GetEntry(Reader* r, uint8_t version) {
  TreeEntry e;
  ASSIGN_OR_RETURN(e.name, r->String());
  if (!ValidateName(e.name).ok()) return Corruption("tree object has an invalid entry name");
  ASSIGN_OR_RETURN(uint8_t type, r->U8());
  const uint8_t newest_type = version >= kOwnerEncodingVersion ? 7 : 3;
  if (type < 1 || type > newest_type)
    return Corruption("tree entry has unknown type " + std::to_string(type));
  e.type = static_cast<EntryType>(type);
  ASSIGN_OR_RETURN(e.mode, r->U32());
  ASSIGN_OR_RETURN(e.size, r->U64());
  ASSIGN_OR_RETURN(uint64_t mt, r->U64());
  e.mtime_ns = static_cast<int64_t>(mt);
  ASSIGN_OR_RETURN(uint32_t nx, r->U32());
  for (uint32_t j = 0; j < nx; ++j) {
    ASSIGN_OR_RETURN(std::string k, r->String());
    ASSIGN_OR_RETURN(ByteView v, r->LengthPrefixed());
    if (!e.xattrs.empty() && !(e.xattrs.rbegin()->first < k))
      return Corruption("tree entry has repeated or unsorted xattrs");
    e.xattrs.emplace(std::move(k), Bytes(v.begin(), v.end()));
  }
  ASSIGN_OR_RETURN(e.id, GetId(r));
  ASSIGN_OR_RETURN(e.target, r->String());
  if (version >= kHoleEncodingVersion) {
    ASSIGN_OR_RETURN(e.hole_bytes, r->U64());
    if (e.hole_bytes != 0 && (e.type != EntryType::kFile || e.hole_bytes > e.size)) {
      return Corruption("tree entry has more hole bytes than its file holds");
    }
  }
  if (version >= kOwnerEncodingVersion) RETURN_IF_ERROR(GetOwnerFields(r, &e));
  return e;
}

}  // namespace

const char* EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kFifo:
      return "fifo";
    case EntryType::kSocket:
      return "socket";
    case EntryType::kCharDevice:
      return "char-device";
    case EntryType::kBlockDevice:
      return "block-device";
  }
  return "unknown";
}

uint64_t NewLinkGroup() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  uint64_t id = 0;
  while (id == 0) id = random();
  return id;
}

bool IsSpecial(EntryType type) {
  return type == EntryType::kFifo || type == EntryType::kSocket || type == EntryType::kCharDevice ||
         type == EntryType::kBlockDevice;
}

Bytes EncodeTree(const TreeObject& tree) {
  // Without owners, special files and holes, exactly the bytes (and ids) of v1 trees.
  const uint8_t version = TreeEncodingFor(tree);
  Bytes out;
  PutU8(&out, version);
  PutU64(&out, tree.entries.size());
  for (const TreeEntry& e : tree.entries) PutEntry(&out, e, version);
  return out;
}

Result<TreeObject> DecodeTree(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t version, CheckVersion(&r, "tree", kOwnerEncodingVersion));
  TreeObject t;
  ASSIGN_OR_RETURN(uint64_t n, r.U64());
  if (n > r.remaining() / 60) return Corruption("tree object lists more entries than it holds");
  t.entries.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(TreeEntry e, GetEntry(&r, version));
    if (i > 0 && !(t.entries.back().name < e.name))
      return Corruption("tree entries are not sorted");
    t.entries.push_back(std::move(e));
  }
  RETURN_IF_ERROR(CheckDone(r, "tree object"));
  return t;
}

Bytes EncodeSnapshot(const SnapshotObject& s) {
  Bytes out;
  if (s.roots.empty()) {
    PutU8(&out, kEncodingVersion);
    PutId(&out, s.root);
  } else {
    PutU8(&out, kScopedSnapshotVersion);
    PutScopedRoots(&out, s.roots);
  }
  PutU8(&out, s.parent.has_value());
  if (s.parent) PutId(&out, *s.parent);
  PutU64(&out, s.seq);
  PutU64(&out, static_cast<uint64_t>(s.time_ns));
  PutString(&out, s.author);
  PutString(&out, s.message);
  PutU8(&out, s.policy.has_value());
  if (s.policy) PutId(&out, *s.policy);
  PutLengthPrefixed(&out, s.signature);
  return out;
}

Result<SnapshotObject> DecodeSnapshot(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t version, CheckVersion(&r, "snapshot", kScopedSnapshotVersion));
  SnapshotObject s;
  if (version == kScopedSnapshotVersion) {
    ASSIGN_OR_RETURN(s.roots, GetScopedRoots(&r, "snapshot object"));
  } else {
    ASSIGN_OR_RETURN(s.root, GetId(&r));
  }
  ASSIGN_OR_RETURN(bool has_parent, GetFlag(&r, "snapshot object"));
  if (has_parent) {
    ASSIGN_OR_RETURN(ObjectId p, GetId(&r));
    s.parent = p;
  }
  ASSIGN_OR_RETURN(s.seq, r.U64());
  ASSIGN_OR_RETURN(uint64_t t, r.U64());
  s.time_ns = static_cast<int64_t>(t);
  ASSIGN_OR_RETURN(s.author, r.String());
  ASSIGN_OR_RETURN(s.message, r.String());
  ASSIGN_OR_RETURN(bool has_policy, GetFlag(&r, "snapshot object"));
  if (has_policy) {
    ASSIGN_OR_RETURN(ObjectId p, GetId(&r));
    s.policy = p;
  }
  ASSIGN_OR_RETURN(ByteView sig, r.LengthPrefixed());
  s.signature.assign(sig.begin(), sig.end());
  RETURN_IF_ERROR(CheckDone(r, "snapshot object"));
  return s;
}

Bytes EncodePolicy(const PolicyObject& p) {
  Bytes out;
  PutU8(&out, kEncodingVersion);
  PutU8(&out, p.parent.has_value());
  if (p.parent) PutId(&out, *p.parent);
  PutU64(&out, p.seq);
  PutU64(&out, static_cast<uint64_t>(p.time_ns));
  PutString(&out, p.author);
  PutString(&out, p.author_role);
  PutString(&out, p.text);
  return out;
}

Result<PolicyObject> DecodePolicy(ByteView data) {
  Reader r(data);
  RETURN_IF_ERROR(CheckVersion(&r, "policy").status());
  PolicyObject p;
  ASSIGN_OR_RETURN(bool has_parent, GetFlag(&r, "policy object"));
  if (has_parent) {
    ASSIGN_OR_RETURN(ObjectId parent, GetId(&r));
    p.parent = parent;
  }
  ASSIGN_OR_RETURN(p.seq, r.U64());
  ASSIGN_OR_RETURN(uint64_t t, r.U64());
  p.time_ns = static_cast<int64_t>(t);
  ASSIGN_OR_RETURN(p.author, r.String());
  ASSIGN_OR_RETURN(p.author_role, r.String());
  ASSIGN_OR_RETURN(p.text, r.String());
  RETURN_IF_ERROR(CheckDone(r, "policy object"));
  return p;
}

}  // namespace weightfs::repo
