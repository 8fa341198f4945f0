// The repository's small files: config, key slots and refs have a
// size limit and are refused, not read into memory, beyond it; config and key slots must be
// exactly what weightfs writes (no trailing NULs or other bytes); and a damaged key slot is
// reported as damaged (kCorruption, naming it), never as a wrong passphrase.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/repo_fixtures.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {
namespace {

using testing::FastInit;
using testing::LocalStoreAt;
using testing::Passphrase;
using testing::ReadLocalFile;
using testing::TempDir;
using testing::WriteLocalFile;

constexpr char kPass[] = "correct horse battery staple";

class RepoFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = LocalStoreAt(dir_.path());
    ASSERT_TRUE(store);
    REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(auto repo, Open());  // writes refs/main
    REPO_ASSERT_OK(
        repo->key_slots().AddKeySlot("guest", "guest", Passphrase("guest pass"), kTestScrypt));
  }
  Result<std::unique_ptr<Repository>> Open(const std::string& pass = kPass,
                                           const std::string& slot = "") {
    return Repository::Open(LocalStoreAt(dir_.path()), Passphrase(pass), slot);
  }
  std::string Path(const std::string& name) const { return dir_.Sub(name); }
  // Makes name a sparse file of size bytes that keeps its first bytes.
  void Inflate(const std::string& name, off_t size) {
    ASSERT_EQ(::truncate(Path(name).c_str(), size), 0) << name;
  }
  void Append(const std::string& name, const std::string& bytes) {
    Bytes data = ReadLocalFile(Path(name));
    data.insert(data.end(), bytes.begin(), bytes.end());
    WriteLocalFile(Path(name), data);
  }

  TempDir dir_;
};

// Runs fn with the address space limited to 1 GiB more than now: reading a 4 GiB file whole
// would fail (or be killed), so a pass shows it was refused without being read.
template <typename Fn>
void WithBoundedMemory(Fn fn) {
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_AS, &old), 0);
  struct rlimit bounded = old;
  long pages = 0;
  {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fscanf(f, "%ld", &pages), 1);
    std::fclose(f);
  }
  bounded.rlim_cur = static_cast<rlim_t>(pages) * ::sysconf(_SC_PAGESIZE) + (rlim_t{1} << 30);
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &bounded), 0);
  fn();
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &old), 0);
}

TEST_F(RepoFilesTest, HugeSparseFilesAreRefusedWithoutReadingThem) {
  for (const char* name : {"config", "keys/admin", "refs/main"}) {
    SCOPED_TRACE(name);
    const Bytes saved = ReadLocalFile(Path(name));
    Inflate(name, off_t{4} << 30);
    const auto start = std::chrono::steady_clock::now();
    WithBoundedMemory([&] {
      auto r = Open();
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().ToString();
      EXPECT_NE(r.status().message().find("4294967296 bytes"), std::string::npos)
          << r.status().ToString();
    });
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              10.0);
    WriteLocalFile(Path(name), saved);
    REPO_EXPECT_OK(Open().status());
  }
}

TEST_F(RepoFilesTest, TrailingBytesInConfigAreCorruption) {
  const Bytes saved = ReadLocalFile(Path("config"));
  for (const std::string& tail : {std::string(4096, '\0'), std::string("\n"), std::string("{}")}) {
    Append("config", tail);
    auto r = Open();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find("config"), std::string::npos) << r.status().ToString();
    WriteLocalFile(Path("config"), saved);
  }
  REPO_EXPECT_OK(Open().status());
}

// A slot that cannot be used because it is damaged is reported as damaged, by name.
TEST_F(RepoFilesTest, DamagedKeySlotIsCorruptionNamingIt) {
  const Bytes saved = ReadLocalFile(Path("keys/admin"));
  const std::string text(saved.begin(), saved.end());
  struct Damage {
    const char* what;
    std::string content;
  };
  std::string edited_role = text;
  edited_role.replace(edited_role.find(R"("role": "admin")"), 15, R"("role": "owner")");
  const Damage damages[] = {
      {"truncated", text.substr(0, text.size() / 2)},
      {"garbage", std::string(300, 'x')},
      {"trailing NULs", text + std::string(64, '\0')},
      {"an edited role", edited_role},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    WriteLocalFile(Path("keys/admin"), AsBytes(d.content));
    for (const std::string slot : {"", "admin"}) {
      auto r = Open(kPass, slot);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_NE(r.status().message().find("key slot 'admin'"), std::string::npos)
          << r.status().ToString();
      EXPECT_NE(r.status().message().find("damaged"), std::string::npos) << r.status().ToString();
    }
    // The intact slot still opens, and names only itself.
    REPO_ASSERT_OK_AND_ASSIGN(auto guest, Open("guest pass"));
    EXPECT_EQ(guest->slot_name(), "guest");
  }
  WriteLocalFile(Path("keys/admin"), saved);
  REPO_EXPECT_OK(Open().status());
  // A wrong passphrase on intact slots is still a wrong key (exit 3).
  EXPECT_EQ(Open("not the passphrase").status().code(), Code::kWrongKey);
  EXPECT_EQ(Open("not the passphrase", "admin").status().code(), Code::kWrongKey);
}

TEST_F(RepoFilesTest, RenamedSlotFileIsDamaged) {
  ASSERT_EQ(::rename(Path("keys/guest").c_str(), Path("keys/visitor").c_str()), 0);
  auto r = Open("guest pass");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("keys/visitor"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace weightfs::repo
