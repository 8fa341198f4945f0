// Repository layer: init/open and key slots, objects and chunk ranges. In-memory stores and the
// cheap test KDF keep it fast; randomness is seeded and the seed printed.
#include "weightfs/repo/repository.h"

#include "repo/repository_test_util.h"

namespace weightfs::repo {
namespace {

using namespace repo_test;  // NOLINT(google-build-using-namespace): the shared fixture

// --- init, open, key slots ---

TEST(RepositoryInitTest, InitThenOpenWithPassphrase) {
  SharedStore store;
  REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, store.Open(Passphrase(kPass)));
  EXPECT_EQ(repo->slot_name(), "admin");
  EXPECT_EQ(repo->role(), "admin");
  EXPECT_EQ(repo->config().format_version, kBaseFormatVersion);
  EXPECT_EQ(repo->config().repo_id.size(), kRepoIdSize);
  EXPECT_EQ(repo->config().chunker.avg_size, ChunkerParams{}.avg_size);
  // The fresh repository has an empty live tree and no snapshots.
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo->refs().ReadMain());
  ASSERT_TRUE(main.raw.has_value());
  EXPECT_EQ(main.value.live_root, repo->objects().EmptyTreeId());
  EXPECT_FALSE(main.value.head.has_value());
  REPO_ASSERT_OK_AND_ASSIGN(auto snaps, repo->ListSnapshots());
  EXPECT_TRUE(snaps.empty());
  EXPECT_EQ(repo->ResolveVersion("latest").status().code(), Code::kNotFound);
}

TEST(RepositoryInitTest, WrongPassphraseIsWrongKey) {
  SharedStore store;
  REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
  auto r = store.Open(Passphrase("not the passphrase"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kWrongKey) << r.status().ToString();
}

TEST(RepositoryInitTest, OpenEmptyStoreIsNotFound) {
  SharedStore store;
  auto r = store.Open(Passphrase(kPass));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
}

TEST(RepositoryInitTest, InitRefusesWeakScryptWithoutOptIn) {
  SharedStore store;
  InitOptions o = FastInit();
  o.allow_weak_kdf = false;
  Status s = Repository::Init(store.get(), Passphrase(kPass), o);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  // Nothing was written: the store is still not a repository.
  REPO_ASSERT_OK_AND_ASSIGN(auto config, store.get()->ReadFile("config"));
  EXPECT_FALSE(config.has_value());
  // Not a power of two is refused even with the opt-in.
  o.allow_weak_kdf = true;
  o.scrypt.n = 1000;
  EXPECT_EQ(Repository::Init(store.get(), Passphrase(kPass), o).code(), Code::kInvalidArgument);
  EXPECT_FALSE(ValidateNewScrypt(kTestScrypt, false).ok());
  EXPECT_TRUE(ValidateNewScrypt(kTestScrypt, true).ok());
  EXPECT_TRUE(ValidateNewScrypt(crypto::ScryptParams{}, false).ok());
  // No slot is written that opening would refuse as too costly.
  EXPECT_FALSE(ValidateNewScrypt(crypto::ScryptParams{uint64_t{1} << 24, 64, 1}, false).ok());
  EXPECT_FALSE(ValidateNewScrypt(crypto::ScryptParams{uint64_t{1} << 20, 8, 16}, false).ok());
  EXPECT_TRUE(ValidateNewScrypt(crypto::ScryptParams{uint64_t{1} << 20, 8, 1}, false).ok());
}

TEST(RepositoryInitTest, InitRefusesExistingRepositoryAndBadNames) {
  SharedStore store;
  REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
  EXPECT_EQ(Repository::Init(store.get(), Passphrase(kPass), FastInit()).code(),
            Code::kAlreadyExists);
  SharedStore other;
  InitOptions o = FastInit();
  o.slot_name = "../evil";
  EXPECT_EQ(Repository::Init(other.get(), Passphrase(kPass), o).code(), Code::kInvalidArgument);
  EXPECT_EQ(Repository::Init(other.get(), Passphrase(""), FastInit()).code(),
            Code::kInvalidArgument);
}

TEST(RepositoryInitTest, KeyFileSlot) {
  TempDir dir;
  const std::string key_path = dir.Sub("repo.key");
  REPO_ASSERT_OK_AND_ASSIGN(Credential created, CreateKeyFile(key_path));
  struct stat st;
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second key file at the same path is refused, so a key is never overwritten.
  EXPECT_FALSE(CreateKeyFile(key_path).ok());

  SharedStore store;
  REPO_ASSERT_OK(Repository::Init(store.get(), created, InitOptions{}));  // no scrypt involved
  REPO_ASSERT_OK_AND_ASSIGN(Credential loaded, LoadKeyFile(key_path));
  EXPECT_EQ(loaded.kind, Credential::Kind::kKeyFile);
  EXPECT_EQ(ToHex(loaded.secret.view()), ToHex(created.secret.view()));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, store.Open(loaded));
  EXPECT_EQ(repo->slot_name(), "admin");
  REPO_ASSERT_OK_AND_ASSIGN(auto slots, repo->key_slots().ListKeySlots());
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].kind, "keyfile");
  repo.reset();

  // Another key file, and the key file's bytes used as a passphrase, do not open it.
  REPO_ASSERT_OK_AND_ASSIGN(Credential other, CreateKeyFile(dir.Sub("other.key")));
  EXPECT_EQ(store.Open(other).status().code(), Code::kWrongKey);
  Credential as_pass;
  as_pass.secret = loaded.secret.Clone();
  EXPECT_EQ(store.Open(as_pass).status().code(), Code::kWrongKey);

  // Not a key file.
  testing::WriteLocalFile(dir.Sub("bogus.key"), AsBytes("weightfs-key-v1 1234\n"));
  EXPECT_EQ(LoadKeyFile(dir.Sub("bogus.key")).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(LoadKeyFile(dir.Sub("missing.key")).ok());
}

TEST_F(RepoTest, AddListOpenBySlotName) {
  REPO_ASSERT_OK(
      repo_->key_slots().AddKeySlot("reader-1", "reader", Passphrase("reader pass"), kTestScrypt));
  EXPECT_EQ(
      repo_->key_slots().AddKeySlot("reader-1", "reader", Passphrase("x"), kTestScrypt).code(),
      Code::kAlreadyExists);
  EXPECT_EQ(
      repo_->key_slots().AddKeySlot("bad/name", "reader", Passphrase("x"), kTestScrypt).code(),
      Code::kInvalidArgument);
  REPO_ASSERT_OK_AND_ASSIGN(auto slots, repo_->key_slots().ListKeySlots());
  std::map<std::string, std::string> roles;
  for (const KeySlotInfo& s : slots) {
    roles[s.name] = s.role;
    EXPECT_EQ(s.kind, "passphrase");
    EXPECT_EQ(s.scrypt.n, kTestScrypt.n);
  }
  EXPECT_EQ(roles,
            (std::map<std::string, std::string>{{"admin", "admin"}, {"reader-1", "reader"}}));

  REPO_ASSERT_OK_AND_ASSIGN(auto reader, store_.Open(Passphrase("reader pass")));
  EXPECT_EQ(reader->slot_name(), "reader-1");
  EXPECT_EQ(reader->role(), "reader");
  REPO_ASSERT_OK_AND_ASSIGN(reader, store_.Open(Passphrase("reader pass"), "reader-1"));
  EXPECT_EQ(reader->role(), "reader");
  // A slot name restricts the search: the reader's passphrase does not open slot "admin".
  EXPECT_EQ(store_.Open(Passphrase("reader pass"), "admin").status().code(), Code::kWrongKey);
  EXPECT_EQ(store_.Open(Passphrase(kPass), "no-such-slot").status().code(), Code::kWrongKey);
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kPass), "admin"));
  EXPECT_EQ(admin->role(), "admin");
  EXPECT_TRUE(repo_->key_slots().VerifyMetadata().empty());
}

TEST_F(RepoTest, ChangeKeySlotRewrapsWithoutTouchingData) {
  const Bytes data = ToBytes("weights that must survive a passphrase change");
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo snap, CommitFile(repo_.get(), "/w.bin", data, "before"));
  const std::map<ObjectId, Bytes> before = AllObjects(store_.get());
  REPO_ASSERT_OK_AND_ASSIGN(auto main_before, repo_->refs().ReadMain());

  REPO_ASSERT_OK(
      repo_->key_slots().ChangeKeySlot("admin", Passphrase("new passphrase"), kTestScrypt));
  EXPECT_EQ(repo_->key_slots().ChangeKeySlot("nobody", Passphrase("x"), kTestScrypt).code(),
            Code::kNotFound);

  EXPECT_EQ(store_.Open(Passphrase(kPass)).status().code(), Code::kWrongKey);
  REPO_ASSERT_OK_AND_ASSIGN(auto reopened, store_.Open(Passphrase("new passphrase")));
  EXPECT_EQ(reopened->role(), "admin");
  // No object was added, removed or rewritten, and refs/main is the same bytes.
  EXPECT_EQ(AllObjects(store_.get()), before);
  REPO_ASSERT_OK_AND_ASSIGN(auto main_after, reopened->refs().ReadMain());
  EXPECT_EQ(main_after.raw, main_before.raw);
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e, LookupPath(*reopened, snap.snapshot.root, "/w.bin"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, ReadContent(*reopened, e.id));
  EXPECT_EQ(got, data);
  EXPECT_TRUE(reopened->key_slots().VerifyMetadata().empty());
}

TEST_F(RepoTest, RemoveKeySlot) {
  EXPECT_EQ(repo_->key_slots().RemoveKeySlot("admin").code(),
            Code::kInvalidArgument);  // the last slot
  EXPECT_EQ(repo_->key_slots().RemoveKeySlot("ghost").code(), Code::kNotFound);
  REPO_ASSERT_OK(
      repo_->key_slots().AddKeySlot("second", "admin", Passphrase("second pass"), kTestScrypt));
  REPO_ASSERT_OK(repo_->key_slots().RemoveKeySlot("admin"));
  EXPECT_EQ(store_.Open(Passphrase(kPass)).status().code(), Code::kWrongKey);
  REPO_ASSERT_OK_AND_ASSIGN(auto second, store_.Open(Passphrase("second pass")));
  EXPECT_EQ(second->slot_name(), "second");
  EXPECT_EQ(second->key_slots().RemoveKeySlot("second").code(), Code::kInvalidArgument);
  REPO_ASSERT_OK_AND_ASSIGN(auto slots, second->key_slots().ListKeySlots());
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].name, "second");
}

TEST_F(RepoTest, NewerFormatVersionIsUnsupported) {
  REPO_ASSERT_OK_AND_ASSIGN(auto config, store_.get()->ReadFile("config"));
  ASSERT_TRUE(config.has_value());
  std::string text(AsString(*config));
  const std::string from = "\"version\": 1";
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, from.size(), "\"version\": 3");
  REPO_ASSERT_OK(store_.get()->WriteFile("config", AsBytes(text)));
  auto r = store_.Open(Passphrase(kPass));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("newer"), std::string::npos) << r.status().ToString();
}

// --- objects ---

TEST_F(RepoTest, PutGetObjectRoundTrip) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{65537}, size_t{300000}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Bytes data = RandomBytes(rng, size);
    REPO_ASSERT_OK_AND_ASSIGN(ObjectId id,
                              repo_->objects().PutObject(ObjectType::kChunk, data, kLegacyKeyId));
    EXPECT_EQ(id, repo_->objects().ComputeId(ObjectType::kChunk, data, kLegacyKeyId));
    REPO_ASSERT_OK_AND_ASSIGN(Bytes got, repo_->objects().GetObject(ObjectType::kChunk, id));
    EXPECT_EQ(got, data);
    // Idempotent, and the id depends on the type.
    REPO_ASSERT_OK_AND_ASSIGN(ObjectId again,
                              repo_->objects().PutObject(ObjectType::kChunk, data, kLegacyKeyId));
    EXPECT_EQ(again, id);
    EXPECT_NE(repo_->objects().ComputeId(ObjectType::kFile, data, kLegacyKeyId), id);
    // Opening it as another type fails authentication: kCorruption, never a wrong answer.
    EXPECT_EQ(repo_->objects().GetObject(ObjectType::kTree, id).status().code(), Code::kCorruption);
    // Nothing in the store holds the plaintext.
    if (size >= 64) {
      REPO_ASSERT_OK_AND_ASSIGN(Bytes sealed, store_.get()->Get(id));
      EXPECT_EQ(std::search(sealed.begin(), sealed.end(), data.begin(), data.begin() + 64),
                sealed.end());
    }
  }
  Bytes missing_bytes(ObjectId::kSize, 0xab);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId missing, ObjectId::FromBytes(missing_bytes));
  EXPECT_EQ(repo_->objects().GetObject(ObjectType::kChunk, missing).status().code(),
            Code::kCorruption);
}

TEST_F(RepoTest, StructuredObjectsRoundTrip) {
  FileObject f;
  f.size = 10;
  f.chunks = {
      ChunkRef{repo_->objects().ComputeId(ObjectType::kChunk, AsBytes("abcd"), kLegacyKeyId), 4},
      ChunkRef{repo_->objects().ComputeId(ObjectType::kChunk, AsBytes("efghij"), kLegacyKeyId), 6}};
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId fid, repo_->objects().PutFile(f, kLegacyKeyId));
  REPO_ASSERT_OK_AND_ASSIGN(FileObject f2, repo_->objects().LoadFile(fid));
  EXPECT_EQ(f2.size, 10u);
  EXPECT_EQ(f2.chunks, f.chunks);

  TreeObject t;
  TreeEntry e = FileEntry(fid, 10);
  e.name = "x";
  e.xattrs["user.k"] = ToBytes("v");
  t.entries.push_back(e);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId tid, repo_->objects().PutTree(t, "/"));
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject t2, repo_->objects().LoadTree(tid));
  ASSERT_EQ(t2.entries.size(), 1u);
  EXPECT_EQ(t2.entries[0], e);
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject empty,
                            repo_->objects().LoadTree(repo_->objects().EmptyTreeId()));
  EXPECT_TRUE(empty.entries.empty());
  // A file id is not a tree.
  EXPECT_EQ(repo_->objects().LoadTree(fid).status().code(), Code::kCorruption);
}

// A byte range of a chunk read through the one chunk reader (frames only, no cache) equals the
// slice of what was stored.
TEST_F(RepoTest, ChunkReaderRangeEqualsSlice) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  ChunkReader::Options options;
  options.threads = 0;
  ChunkReader reader(repo_.get(), options);
  // Reads [off, off+len) of chunk id, clamped to its end, as the mount does.
  auto read = [&](const ObjectId& id, uint64_t chunk_size, uint64_t off,
                  uint64_t len) -> Result<Bytes> {
    len = off >= chunk_size ? 0 : std::min<uint64_t>(len, chunk_size - off);
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkFrames> frames,
                     reader.ReadFrames(id, chunk_size, off, len));
    RETURN_IF_ERROR(frames->Check(off, len));
    PieceList pieces;
    ChunkFrames::AppendTo(frames, off, len, &pieces);
    return pieces.Gather();
  };
  for (size_t size : {size_t{1}, size_t{65536}, size_t{5 * 65536 + 123}, size_t{1 << 20}}) {
    SCOPED_TRACE("chunk size " + std::to_string(size));
    const Bytes data = RandomBytes(rng, size);
    REPO_ASSERT_OK_AND_ASSIGN(ObjectId id,
                              repo_->objects().PutObject(ObjectType::kChunk, data, kLegacyKeyId));
    std::vector<std::pair<uint64_t, uint64_t>> ranges = {
        {0, size}, {0, 1}, {size - 1, 1}, {0, size + 100}, {size - 1, 1000}};
    if (size > 65536) ranges.emplace_back(65535, 2);  // across a frame boundary
    for (int i = 0; i < 40; ++i) {
      const uint64_t off = rng() % size;
      ranges.emplace_back(off, 1 + rng() % (size - off + 10));
    }
    for (auto [off, len] : ranges) {
      SCOPED_TRACE("range " + std::to_string(off) + "+" + std::to_string(len));
      REPO_ASSERT_OK_AND_ASSIGN(Bytes got, read(id, size, off, len));
      const uint64_t want = std::min<uint64_t>(len, size - off);
      ASSERT_EQ(got.size(), want);
      EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + off));
    }
    REPO_ASSERT_OK_AND_ASSIGN(Bytes past, read(id, size, size, 10));
    EXPECT_TRUE(past.empty());
    REPO_ASSERT_OK_AND_ASSIGN(Bytes none, read(id, size, 0, 0));
    EXPECT_TRUE(none.empty());
    // A wrong size from the file object is detected, not read as garbage, when the read
    // reaches the last frame (whose length and last-frame flag are authenticated). File
    // objects are authenticated themselves, so only a bug could produce a wrong size.
    if (size > 1) {
      ChunkReader fresh(repo_.get(), options);  // nothing cached under the right size
      auto frames = fresh.ReadFrames(id, size - 1, size - 2, 1);
      const Status wrong = frames.ok() ? (*frames)->Check(size - 2, 1) : frames.status();
      EXPECT_EQ(wrong.code(), Code::kCorruption);
    }
  }
}

// A read from the middle of a chunk opens its first frame with the guessed header, the rest in
// place: a damaged frame among them fails its own range only, whichever frame the read starts
// in, and a damaged first frame makes the reader fetch the stored header and still find it.
TEST_F(RepoTest, ChunkReaderMidChunkReadsReportTheDamagedFrameOnly) {
  std::mt19937_64 rng(TestSeed());
  const uint64_t frame = crypto::kFrameSize;
  const Bytes data = RandomBytes(rng, 5 * frame + 321);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId id,
                            repo_->objects().PutObject(ObjectType::kChunk, data, kLegacyKeyId));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes sealed, store_.get()->Get(id));
  sealed[crypto::ObjectCipher::FrameOffset(3) + 7] ^= 1;  // frame 3
  REPO_ASSERT_OK(store_.get()->Delete(id));
  REPO_ASSERT_OK(store_.get()->Put(id, sealed));
  ChunkReader::Options options;
  options.threads = 0;
  for (uint64_t start_frame : {1, 2, 3}) {
    ChunkReader reader(repo_.get(), options);  // nothing cached: each read loads its frames
    const uint64_t off = start_frame * frame + 100;
    const uint64_t len = data.size() - off;
    REPO_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const ChunkFrames> f,
                              reader.ReadFrames(id, data.size(), off, len));
    for (uint64_t fr = start_frame; fr <= 5; ++fr) {
      const uint64_t b = std::max(off, fr * frame),
                     e = std::min<uint64_t>((fr + 1) * frame, data.size());
      SCOPED_TRACE("read from frame " + std::to_string(start_frame) + ", frame " +
                   std::to_string(fr));
      if (fr == 3) {
        EXPECT_EQ(f->Check(b, e - b).code(), Code::kCorruption);
        continue;
      }
      REPO_ASSERT_OK(f->Check(b, e - b));
      PieceList pieces;
      ChunkFrames::AppendTo(f, b, e - b, &pieces);
      const Bytes got = pieces.Gather();
      EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + b));
    }
  }
}

}  // namespace
}  // namespace weightfs::repo
