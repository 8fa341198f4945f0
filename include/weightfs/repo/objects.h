// The plaintext structure of repository objects (before sealing): file, tree, snapshot.
// Each encoding starts with a one-byte encoding version so it can evolve; decoders of these
// untrusted-until-authenticated bytes never read out of bounds and report kCorruption.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"

namespace weightfs::repo {

enum class ObjectType : uint8_t {
  kChunk = 1,
  kFile = 2,
  kTree = 3,
  kSnapshot = 4,
  kPolicy = 5,
};
const char* ObjectTypeName(ObjectType type);

// One piece of a file's content: a stored chunk, or a hole (zeros stored as nothing: no object,
// never chunked or hashed, of any size).
struct ChunkRef {
  ObjectId id;        // zero for a hole
  uint64_t size = 0;  // a chunk's size fits 32 bits (the chunker's maximum); a hole's need not
  bool hole = false;
  bool operator==(const ChunkRef&) const = default;
  static ChunkRef Hole(uint64_t size) { return ChunkRef{ObjectId(), size, true}; }
};

// A file's content: its chunks and holes in order; piece i starts at the sum of the sizes
// before it. Encoded as file encoding v1 (chunks only, the format of every file object written
// before holes existed) when it has no hole, else as v2 (each piece tagged chunk or hole).
struct FileObject {
  uint64_t size = 0;
  std::vector<ChunkRef> chunks;
  uint64_t HoleBytes() const;
};

// Special files (FIFOs, sockets, devices) are entries without content; devices carry rdev.
enum class EntryType : uint8_t {
  kFile = 1,
  kDirectory = 2,
  kSymlink = 3,
  kFifo = 4,
  kSocket = 5,
  kCharDevice = 6,
  kBlockDevice = 7,
};
bool IsSpecial(EntryType type);
// A new random link group id (TreeEntry::link_group): random, so that groups made by different
// writers (an import into a tree, a mount) never collide. Never 0.
uint64_t NewLinkGroup();
// "file", "dir", "symlink", "fifo", "socket", "char-device", "block-device".
const char* EntryTypeName(EntryType type);

struct TreeEntry {
  std::string name;
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;     // permission bits only (07777)
  uint64_t size = 0;     // file size; symlink target length; 0 for directories
  int64_t mtime_ns = 0;  // since the epoch, UTC
  std::map<std::string, Bytes> xattrs;
  ObjectId id;         // file or tree object; zero for symlinks
  std::string target;  // symlink target
  // Files: bytes of size that are holes in the file object (so st_blocks needs no file object).
  // A tree in which every entry has 0 is encoded as tree encoding v1, as before holes existed;
  // otherwise as v2, whose entries end with this field.
  uint64_t hole_bytes = 0;
  // Owner and group, when the entry records them (has_owner); entries without (written before
  // owners were stored, or imported without them) show the mounting user. rdev: a device's
  // number (major/minor as the kernel's dev_t). A tree in which no entry has an owner, a special
  // type or an rdev is encoded as v1 or v2 as before; otherwise as v3, whose entries end, after
  // hole_bytes, with a flags byte (bit 0: uid and gid follow, 32 bits each; bit 1: rdev follows,
  // 64 bits; bit 2: link_group follows, 64 bits). Special types appear only in v3 trees (older
  // builds refuse v3 as unsupported).
  bool has_owner = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  // Hard links: the entries of one tree (the whole tree below a root, e.g. a snapshot) that are
  // names of one file share a non-zero link_group; 0: the entry is the file's only name. Each
  // entry of a group carries the same content and metadata, so a reader of one path needs no
  // other. Never on directories.
  uint64_t link_group = 0;
  bool operator==(const TreeEntry&) const = default;
};

// A directory: entries sorted by name, names unique, never "", "." or ".." or containing '/'.
struct TreeObject {
  std::vector<TreeEntry> entries;
  const TreeEntry* Find(const std::string& name) const;
};

// Key ids in sealed object headers (see keyring.h). kLegacyKeyId seals every object of a
// repository without scopes and stays the first keys of the default scope; once a repository
// has scopes, kCommonKeyId (which every key slot holds) seals snapshots and policy versions, and
// each scope's keys get the ids refs/keys lists (2 and up).
constexpr uint32_t kCommonKeyId = 0;
constexpr uint32_t kLegacyKeyId = 1;

// One scope's root tree in a repository with scopes: the tree object (sealed under key key_id)
// holding the paths of that scope and the directories above them.
struct ScopedRoot {
  uint32_t key_id = 0;
  ObjectId id;
  bool operator==(const ScopedRoot&) const = default;
  bool operator<(const ScopedRoot& o) const {
    return key_id != o.key_id ? key_id < o.key_id : id < o.id;
  }
};

// Encoded as v1 (one root tree) in a repository without scopes, v2 (a root per scope, `roots`,
// sorted by key id) with scopes; there ObjectLayer::LoadSnapshot sets `root` to the merged view
// of the roots this session's keys open (a handle, see object_layer.h).
struct SnapshotObject {
  ObjectId root;                   // tree (v1), or the handle of `roots` (v2)
  std::vector<ScopedRoot> roots;   // v2 only
  std::optional<ObjectId> parent;  // snapshot
  uint64_t seq = 0;                // 1 for the first snapshot, parent's + 1 after
  int64_t time_ns = 0;
  std::string author;  // key slot name
  std::string message;
  std::optional<ObjectId> policy;  // policy object in force when it was recorded
  Bytes signature;                 // reserved for signed snapshots; always empty when written
};

// A version of the repository's access policy: the YAML text as given to `policy set`,
// chained to the version it replaced.
struct PolicyObject {
  std::optional<ObjectId> parent;  // the policy this one replaced
  uint64_t seq = 0;                // 1 for the first policy set, parent's + 1 after
  int64_t time_ns = 0;
  std::string author;       // key slot name
  std::string author_role;  // that slot's role
  std::string text;         // YAML
};

// The scope roots of a snapshot or of refs/main: u32 count, count x (u32 key id, id), sorted by
// key id, unique, 1 to kMaxScopedRoots of them (anything else is kCorruption).
constexpr uint32_t kMaxScopedRoots = 1024;
void PutScopedRoots(Bytes* out, const std::vector<ScopedRoot>& roots);
Result<std::vector<ScopedRoot>> GetScopedRoots(Reader* r, const char* what);

Bytes EncodeFile(const FileObject& file);
Result<FileObject> DecodeFile(ByteView data);
Bytes EncodeTree(const TreeObject& tree);
Result<TreeObject> DecodeTree(ByteView data);
Bytes EncodeSnapshot(const SnapshotObject& snapshot);
Result<SnapshotObject> DecodeSnapshot(ByteView data);
Bytes EncodePolicy(const PolicyObject& policy);
Result<PolicyObject> DecodePolicy(ByteView data);

// Checks a single path component.
Status ValidateName(const std::string& name);

}  // namespace weightfs::repo
