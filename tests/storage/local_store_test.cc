// Local-store behaviour beyond the shared contract: on-disk layout, temp-file hygiene, locking
// across separately opened stores and processes, and error messages.
#include "weightfs/storage/local_store.h"
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_test_util.h"

namespace weightfs::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::TestData;
using testing::TestId;

std::unique_ptr<ObjectStore> Open(const std::string& dir) {
  auto store = OpenLocalStore(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

Bytes ReadDisk(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteDisk(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// Every regular file below root, relative to it.
std::set<std::string> AllFiles(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), root).string());
  }
  return out;
}

// Adds one to the decimal counter in `name`, retrying lost races. False on any other error.
bool Increment(ObjectStore* store, const std::string& name) {
  for (;;) {
    auto cur = store->ReadFile(name);
    if (!cur.ok()) return false;
    int value = cur->has_value() ? std::stoi(std::string(AsString(**cur))) : 0;
    Status s = store->CompareAndSwapFile(name, *cur, AsBytes(std::to_string(value + 1)));
    if (s.ok()) return true;
    if (s.code() != Code::kConflict) return false;
  }
}

TEST(LocalStoreTest, ObjectLandsInItsFanOutDirectory) {
  TempDir dir;
  auto store = Open(dir.path());
  const ObjectId id = TestId(0xab, 1);
  const Bytes data = TestData(777, 1);
  WFS_ASSERT_OK(store->Put(id, data));
  const fs::path want = fs::path(dir.path()) / "objects" / "ab" / id.Hex();
  ASSERT_TRUE(fs::is_regular_file(want)) << want;
  EXPECT_EQ(id.Hex().substr(0, 2), "ab");
  EXPECT_EQ(ReadDisk(want), data);
  EXPECT_EQ(AllFiles(dir.path()), (std::set<std::string>{"objects/ab/" + id.Hex()}));
}

TEST(LocalStoreTest, NoTempFilesAreLeftBehind) {
  TempDir dir;
  auto store = Open(dir.path());
  std::set<std::string> want;
  for (uint32_t i = 0; i < 20; ++i) {
    const ObjectId id = TestId(static_cast<uint8_t>(i * 11), i);
    WFS_ASSERT_OK(store->Put(id, TestData(100 + i, i)));
    WFS_ASSERT_OK(store->Put(id, TestData(100 + i, i)));  // the idempotent path too
    want.insert("objects/" + id.Hex().substr(0, 2) + "/" + id.Hex());
  }
  WFS_ASSERT_OK(store->Sync());
  WFS_ASSERT_OK(store->WriteFile("config", AsBytes("c")));
  WFS_ASSERT_OK(store->WriteFile("config", AsBytes("c2")));
  WFS_ASSERT_OK(store->CompareAndSwapFile("refs/main", std::nullopt, AsBytes("r")));
  WFS_ASSERT_OK(store->CompareAndSwapFile("refs/main", ToBytes("r"), AsBytes("r2")));
  WFS_ASSERT_OK(store->CreateFileExclusive("locks/writer", AsBytes("w")));
  EXPECT_FALSE(store->CreateFileExclusive("locks/writer", AsBytes("w")).ok());
  EXPECT_FALSE(store->CompareAndSwapFile("refs/main", ToBytes("r"), AsBytes("x")).ok());
  want.insert({"config", "refs/main", "locks/writer", ".~files.lock"});
  EXPECT_EQ(AllFiles(dir.path()), want);
}

TEST(LocalStoreTest, ReopenedStoreSeesEverything) {
  TempDir dir;
  const ObjectId id = TestId(0x01, 2);
  {
    auto store = Open(dir.path());
    WFS_ASSERT_OK(store->Put(id, TestData(50, 2)));
    WFS_ASSERT_OK(store->Sync());
    WFS_ASSERT_OK(store->WriteFile("keys/admin", AsBytes("k")));
  }
  auto store = Open(dir.path() + "/");  // a trailing slash is fine
  EXPECT_EQ(*store->Get(id), TestData(50, 2));
  EXPECT_EQ(*store->ReadFile("keys/admin"), ToBytes("k"));
}

TEST(LocalStoreTest, ForEachSkipsTempAndForeignFiles) {
  TempDir dir;
  auto store = Open(dir.path());
  const ObjectId id = TestId(0xab, 3);
  WFS_ASSERT_OK(store->Put(id, TestData(10, 3)));
  const fs::path objects = fs::path(dir.path()) / "objects";
  const std::string other = TestId(0xcd, 4).Hex();
  WriteDisk(objects / "ab" / ".~tmp-0123456789abcdef", "partial");
  WriteDisk(objects / "ab" / "README", "x");
  WriteDisk(objects / "ab" / other, "wrong fan-out directory");
  std::string upper = id.Hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  WriteDisk(objects / "ab" / (upper.substr(0, 2) + "X" + upper.substr(3)), "not hex");
  WriteDisk(objects / "zz" / other, "not a fan-out directory");
  WriteDisk(objects / "stray", "file in objects/");
  fs::create_directories(objects / "cd" / other);  // a directory with an object's name

  std::vector<ObjectId> seen;
  WFS_ASSERT_OK(store->ForEach([&](const ObjectId& got, uint64_t size) {
    seen.push_back(got);
    EXPECT_EQ(size, 10u);
    return Status::Ok();
  }));
  EXPECT_EQ(seen, std::vector<ObjectId>{id});
}

TEST(LocalStoreTest, ListFilesHidesLockAndTempFiles) {
  TempDir dir;
  auto store = Open(dir.path());
  WFS_ASSERT_OK(store->CompareAndSwapFile("config", std::nullopt, AsBytes("c")));
  WFS_ASSERT_OK(store->WriteFile("keys/admin", AsBytes("k")));
  WriteDisk(fs::path(dir.path()) / "keys" / ".~tmp-00000000000000ff", "partial");
  WriteDisk(fs::path(dir.path()) / "keys" / "has space", "foreign");
  ASSERT_TRUE(fs::exists(fs::path(dir.path()) / ".~files.lock"));
  EXPECT_EQ(*store->ListFiles(""), std::vector<std::string>{"config"});
  EXPECT_EQ(*store->ListFiles("keys"), std::vector<std::string>{"keys/admin"});
}

TEST(LocalStoreTest, CompareAndSwapAcrossTwoOpenedStores) {
  TempDir dir;
  auto a = Open(dir.path());
  auto b = Open(dir.path());
  // Each CAS costs two fsyncs; the counts are small enough for a unit test and still race.
  constexpr int kThreadsPerStore = 4;
  constexpr int kIncrements = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (ObjectStore* store : {a.get(), b.get()}) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, store] {
        for (int i = 0; i < kIncrements; ++i) {
          if (!Increment(store, "refs/counter")) ++failures;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*a->ReadFile("refs/counter"),
            ToBytes(std::to_string(2 * kThreadsPerStore * kIncrements)));
}

TEST(LocalStoreTest, CompareAndSwapAcrossProcesses) {
  TempDir dir;
  constexpr int kChildren = 3;
  constexpr int kIncrements = 15;
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child uses no gtest machinery and leaves with _exit.
      auto store = OpenLocalStore(dir.path());
      if (!store.ok()) ::_exit(2);
      for (int i = 0; i < kIncrements; ++i) {
        if (!Increment(store->get(), "refs/counter")) ::_exit(1);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  auto store = Open(dir.path());
  for (int i = 0; i < kIncrements; ++i) ASSERT_TRUE(Increment(store.get(), "refs/counter"));
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  EXPECT_EQ(*store->ReadFile("refs/counter"),
            ToBytes(std::to_string((kChildren + 1) * kIncrements)));
}

TEST(LocalStoreTest, OpeningAFileOrAMissingDirectoryFails) {
  TempDir dir;
  const std::string file = dir.path() + "/plain-file";
  WriteDisk(file, "x");
  auto r = OpenLocalStore(file);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotDirectory);
  EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status().message();

  auto missing = OpenLocalStore(dir.path() + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos);
}

TEST(LocalStoreTest, WritingWhereADirectoryShouldBeFailsCleanly) {
  TempDir dir;
  auto store = Open(dir.path());
  // objects/ is a file, so no object can be stored.
  WriteDisk(fs::path(dir.path()) / "objects", "in the way");
  const ObjectId id = TestId(0xab, 5);
  Status s = store->Put(id, TestData(10, 5));
  EXPECT_EQ(s.code(), Code::kNotDirectory) << s.ToString();
  EXPECT_NE(s.message().find(dir.path() + "/objects"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Not a directory"), std::string::npos) << s.message();
  EXPECT_FALSE(store->Get(id).ok());

  // A named file whose parent is a file.
  WFS_ASSERT_OK(store->WriteFile("keys", AsBytes("k")));
  Status f = store->WriteFile("keys/admin", AsBytes("x"));
  EXPECT_EQ(f.code(), Code::kNotDirectory) << f.ToString();
  EXPECT_NE(f.message().find(dir.path() + "/keys/admin"), std::string::npos) << f.message();
  EXPECT_EQ(AllFiles(dir.path()), (std::set<std::string>{"objects", "keys", ".~files.lock"}));
}

TEST(LocalStoreTest, RelativeRootIsResolved) {
  TempDir dir;
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  auto store = OpenLocalStore("./");
  fs::current_path(old_cwd);  // a FUSE daemon changes directory after opening its store
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  WFS_ASSERT_OK((*store)->WriteFile("config", AsBytes("c")));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "config"));
  // Messages name the clean absolute path.
  const std::string real = fs::canonical(dir.path()).string();
  EXPECT_EQ((*store)->DeleteFile("missing").message(),
            "deleting " + real + "/missing: No such file or directory");
}

TEST(LocalStoreTest, SyncToleratesObjectsDeletedSincePut) {
  TempDir dir;
  auto store = Open(dir.path());
  WFS_ASSERT_OK(store->Put(TestId(0x42, 6), TestData(10, 6)));
  // Removed behind the store's back (say by gc in another process) before Sync.
  fs::remove(fs::path(dir.path()) / "objects" / "42" / TestId(0x42, 6).Hex());
  WFS_EXPECT_OK(store->Sync());
}

// Aligned reads may go straight to the device (O_DIRECT): they must see what an unaligned,
// buffered read sees, right after the Put (dirty in the page cache) and at the object's end.
TEST(LocalStoreTest, AlignedAndUnalignedReadsAgree) {
  TempDir dir;
  auto store = Open(dir.path());
  const ObjectId id = TestId(0x43, 1);
  const Bytes data = TestData(3 * kReadAlignment + 1234, 9);
  WFS_ASSERT_OK(store->Put(id, data));
  UninitBuffer buf = UninitBuffer::Mapped(8 * kReadAlignment);  // page-aligned
  for (uint64_t offset : {uint64_t{0}, uint64_t{kReadAlignment}, uint64_t{3 * kReadAlignment}}) {
    auto got = store->ReadInto(id, offset, buf.span().first(4 * kReadAlignment));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(*got, data.size() - offset) << "offset " << offset;
    EXPECT_TRUE(std::equal(buf.data(), buf.data() + *got, data.begin() + offset));
  }
  // Unaligned buffer, offset and size: the buffered path.
  auto got = store->ReadInto(id, 7, buf.span().subspan(1, 5000));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(*got, 5000u);
  EXPECT_TRUE(std::equal(buf.data() + 1, buf.data() + 5001, data.begin() + 7));
  // Replaced behind the store's back: the kept descriptors are reopened.
  fs::remove(fs::path(dir.path()) / "objects" / "43" / id.Hex());
  const Bytes other = TestData(2 * kReadAlignment, 10);
  WFS_ASSERT_OK(store->Put(id, other));
  got = store->ReadInto(id, 0, buf.span().first(4 * kReadAlignment));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(*got, other.size());
  EXPECT_TRUE(std::equal(other.begin(), other.end(), buf.data()));
}

// A page-aligned buffer is written with O_DIRECT up to its last whole page and buffered after
// it: the stored object must be exactly the bytes given, whatever the size, and read the same
// through the buffered Get and the (direct) aligned ReadInto.
TEST(LocalStoreTest, DirectWrittenObjectsAreExact) {
  TempDir dir;
  auto store = Open(dir.path());
  UninitBuffer buf = UninitBuffer::Mapped(40 * kReadAlignment);  // page-aligned
  UninitBuffer back = UninitBuffer::Mapped(40 * kReadAlignment);
  const size_t sizes[] = {16 * kReadAlignment, 16 * kReadAlignment + 1, 39 * kReadAlignment + 4095,
                          100};
  uint8_t seed = 1;
  for (size_t size : sizes) {
    for (size_t shift : {size_t{0}, size_t{1}}) {  // aligned, then not (the buffered path)
      const Bytes data = TestData(size, seed);
      std::copy(data.begin(), data.end(), buf.data() + shift);
      const ObjectId id = TestId(0x44, seed++);
      WFS_ASSERT_OK(store->Put(id, ByteView(buf.data() + shift, size)));
      auto got = store->Get(id);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, data) << "size " << size << " shift " << shift;
      auto n = store->ReadInto(id, 0, back.span());
      ASSERT_TRUE(n.ok());
      ASSERT_EQ(*n, size);
      EXPECT_TRUE(std::equal(data.begin(), data.end(), back.data()));
      WFS_ASSERT_OK(store->Sync());
    }
  }
}

}  // namespace
}  // namespace weightfs::storage

namespace weightfs::storage {
namespace {

// gc's grace period depends on this: a deduplicated (reused) object must look freshly written.
TEST(LocalStoreTouchTest, TouchMakesAnOldObjectYoung) {
  testing::TempDir dir;
  auto store = OpenLocalStore(dir.path());
  ASSERT_TRUE(store.ok());
  const ObjectId id = testing::TestId(0x7a, 1);
  WFS_ASSERT_OK((*store)->Put(id, testing::TestData(10, 1)));
  const std::string path = dir.path() + "/objects/" + id.Hex().substr(0, 2) + "/" + id.Hex();
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old_times, 0), 0);
  EXPECT_EQ(*(*store)->MTime(id), 1000000000);
  WFS_ASSERT_OK((*store)->Touch(id));
  EXPECT_GT(*(*store)->MTime(id), 1700000000);
  EXPECT_EQ((*store)->Touch(testing::TestId(0x7a, 2)).code(), Code::kNotFound);
}

}  // namespace
}  // namespace weightfs::storage
