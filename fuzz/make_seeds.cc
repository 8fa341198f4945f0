// Writes each fuzz target's seed corpus from real encodings (the encoders weightfs writes with, the
// fixed keys of fixed_keys.h): make_seeds DIR writes DIR/<target>/<seed>. scripts/fuzz.sh runs it.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fixed_keys.h"
#include "repo/records.h"
#include "support/safetensors_gen.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/objects.h"

namespace weightfs::fuzz {
namespace {

std::filesystem::path g_root;

void Seed(const std::string& target, const std::string& name, ByteView data) {
  const std::filesystem::path dir = g_root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}
void Seed(const std::string& target, const std::string& name, std::string_view text) {
  Seed(target, name, AsBytes(text));
}
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

ObjectId Id(uint8_t fill) { return *ObjectId::FromBytes(FixedBytes(ObjectId::kSize, fill)); }

void Objects() {
  const crypto::ObjectCipher cipher = MakeCipher();
  const auto both = [&](const std::string& target, const std::string& name, repo::ObjectType type,
                        const Bytes& plain) {
    Seed(target, name, plain);
    Bytes sealed{static_cast<uint8_t>(type)};
    PutBytes(&sealed, Must(cipher.Seal(static_cast<uint8_t>(type), FixedObjectId(), plain)));
    Seed("sealed_object", target + "-" + name, sealed);
  };
  repo::FileObject file{3 << 20, {{Id(1), 1 << 20, false}, {Id(2), 2 << 20, false}}};
  both("file_object", "v1", repo::ObjectType::kFile, repo::EncodeFile(file));
  file.chunks.push_back(repo::ChunkRef::Hole(1 << 30));
  file.size += 1 << 30;
  both("file_object", "v2-hole", repo::ObjectType::kFile, repo::EncodeFile(file));
  both("file_object", "empty", repo::ObjectType::kFile, repo::EncodeFile(repo::FileObject{}));

  repo::TreeObject tree;
  repo::TreeEntry dir{
      .name = "models", .type = repo::EntryType::kDirectory, .mode = 0755, .id = Id(3)};
  repo::TreeEntry link{.name = "latest",
                       .type = repo::EntryType::kSymlink,
                       .mode = 0777,
                       .size = 6,
                       .target = "models"};
  repo::TreeEntry weights{.name = "w.safetensors",
                          .type = repo::EntryType::kFile,
                          .mode = 0644,
                          .size = 1 << 20,
                          .mtime_ns = 1700000000000000000,
                          .id = Id(4)};
  weights.xattrs["user.origin"] = ToBytes("hub");
  tree.entries = {link, dir, weights};
  both("tree_object", "v1", repo::ObjectType::kTree, repo::EncodeTree(tree));
  tree.entries[2].hole_bytes = 4096;
  both("tree_object", "v2-holes", repo::ObjectType::kTree, repo::EncodeTree(tree));
  both("tree_object", "empty", repo::ObjectType::kTree, repo::EncodeTree(repo::TreeObject{}));

  repo::SnapshotObject snap{.root = Id(5),
                            .seq = 1,
                            .time_ns = 1700000000000000000,
                            .author = "admin",
                            .message = "first"};
  both("snapshot_object", "first", repo::ObjectType::kSnapshot, repo::EncodeSnapshot(snap));
  snap.parent = Id(6);
  snap.policy = Id(7);
  snap.seq = 2;
  both("snapshot_object", "second", repo::ObjectType::kSnapshot, repo::EncodeSnapshot(snap));
  snap.roots = {{0, Id(8)}, {2, Id(9)}};  // with scopes: a root per scope
  both("snapshot_object", "scoped", repo::ObjectType::kSnapshot, repo::EncodeSnapshot(snap));

  repo::PolicyObject pol{.seq = 1,
                         .time_ns = 1700000000000000000,
                         .author = "admin",
                         .author_role = "admin",
                         .text = "version: 1\n"};
  both("policy_object", "first", repo::ObjectType::kPolicy, repo::EncodePolicy(pol));
  pol.parent = Id(8);
  pol.seq = 2;
  both("policy_object", "second", repo::ObjectType::kPolicy, repo::EncodePolicy(pol));

  // A chunk of two frames (the second short), for the frame-by-frame opener.
  Bytes chunk{static_cast<uint8_t>(repo::ObjectType::kChunk)};
  PutBytes(&chunk,
           Must(cipher.Seal(chunk[0], FixedObjectId(), FixedBytes(crypto::kFrameSize + 100, 9))));
  Seed("sealed_object", "chunk-two-frames", chunk);
}

void Refs() {
  repo::MainRef main{.head = Id(1), .head_seq = 4, .live_root = Id(2), .generation = 9};
  Seed("main_ref", "head", repo::EncodeMain(main));
  Seed("main_ref", "no-head", repo::EncodeMain(repo::MainRef{.live_root = Id(2)}));
  repo::MainRef scoped{.live_root = Id(2)};
  scoped.live_roots = {{0, Id(3)}, {2, Id(4)}};
  Seed("main_ref", "scoped", repo::EncodeMain(scoped));
  std::vector<repo::ScopeKeyInfo> registry = repo::FirstScopedRegistry();
  repo::AddScope(&registry, "public");
  Seed("key_registry", "scopes", repo::EncodeKeyRegistry(registry));
  Seed("tags_ref", "v2", repo::EncodeTags({{"release", Id(1)}, {"v1.0", Id(2)}}, 3));
  Bytes v1;  // encoding 1: no generation
  PutU8(&v1, 1);
  PutU32(&v1, 1);
  PutLengthPrefixed(&v1, AsBytes("old"));
  PutBytes(&v1, Id(3).bytes());
  Seed("tags_ref", "v1", v1);
  Seed("policy_ref", "one", repo::EncodePolicyRef(Id(4)));
}

void Records() {
  repo::LeaseInfo lease{.name = "locks/lease-x",
                        .kind = repo::LeaseKind::kRead,
                        .host = "host",
                        .pid = 4242,
                        .since = 1700000000,
                        .what = "mount /mnt",
                        .roots = {Id(1), Id(2)}};
  Seed("lease_record", "read", repo::EncodeLeaseRecord(lease));
  lease.kind = repo::LeaseKind::kWrite;
  lease.roots.clear();
  Seed("lease_record", "write", repo::EncodeLeaseRecord(lease));
  Seed("lock_record", "writer",
       "{\"host\":\"host\",\"mountpoint\":\"/mnt\",\"pid\":4242,\"time\":1700000000}\n");
  Seed("lock_record", "gc", "{\"host\":\"host\",\"pid\":4242,\"time\":1700000000}\n");
  Seed("state_file", "head", "seq 12\nhead " + Id(1).Hex() + "\n");
  Seed("state_file", "policy", "seq 3\nid " + Id(2).Hex() + "\n");
  Seed("state_file", "none", "seq 0\nhead -\n");
  Seed("state_file", "tags", "gen 2\nsnap " + Id(3).Hex() + "\nlost " + Id(4).Hex() + "\n");
}

void Keys() {
  repo::RepoConfig config{.repo_id = RepoId(), .created = "2026-01-01T00:00:00Z"};
  Seed("config", "config", Must(repo::SerializeConfig(config, MacKey())));
  const Bytes master = FixedBytes(repo::kMasterSize, 0x66);
  Seed(
      "key_slot", "keyfile",
      Must(repo::WrapKeySlot("ci", "reader", KeyFileCredential(), {}, RepoId(), master, MacKey())));
  repo::Credential pass{repo::Credential::Kind::kPassphrase, SecretBytes(AsBytes("passphrase"))};
  Seed("key_slot", "passphrase",
       Must(repo::WrapKeySlot("admin", "admin", pass, repo::kTestScrypt, RepoId(), master,
                              MacKey())));
}

void Safetensors() {
  using testgen::GenTensor;
  Seed("safetensors", "two",
       testgen::MakeSafetensors(
           {GenTensor{"a", "F32", {2, 2}, Bytes(16, 1)}, GenTensor{"b", "BF16", {3}, Bytes(6, 2)}},
           {{"format", "pt"}}));
  Seed("safetensors", "scalar", testgen::MakeSafetensors({GenTensor{"s", "U8", {}, Bytes(1, 3)}}));
  Seed("safetensors", "empty", testgen::MakeSafetensors({}));
}

void Policies() {
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(WEIGHTFS_SOURCE_DIR) / "config")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Seed("policy_yaml", entry.path().filename().string(), text);
  }
}

void ReaderInputs() {
  Bytes program = {0, 7, 1, 1, 2, 3, 4, 5, 6, 7, 8, 4, 3, 0, 0, 0, 'a', 'b', 'c'};
  Seed("reader", "program", program);
  Seed("reader", "hex", Id(5).Hex());
}

}  // namespace
}  // namespace weightfs::fuzz

int main(int argc, char** argv) {
  using namespace weightfs::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  g_root = argv[1];
  Objects();
  Refs();
  Records();
  Keys();
  Safetensors();
  Policies();
  ReaderInputs();
  return 0;
}
