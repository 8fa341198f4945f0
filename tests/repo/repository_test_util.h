// Shared by the repository_*_test.cc files: the RepoTest fixture (an initialized in-memory
// repository that can be reopened) and the helpers they use.
#pragma once

#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/repository.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/import_export.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo::repo_test {

using testing::AllObjects;
using testing::CommitFile;
using testing::FastInit;
using testing::FileEntry;
using testing::Passphrase;
using testing::RandomBytes;
using testing::ReadContent;
using testing::SharedStore;
using testing::TempDir;
using testing::TestSeed;
using testing::WriteContent;

inline constexpr char kPass[] = "correct horse battery staple";

// An initialized in-memory repository that can be reopened.
class RepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    auto r = store_.Open(Passphrase(kPass));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }

  SharedStore store_;
  std::unique_ptr<Repository> repo_;
};

}  // namespace weightfs::repo::repo_test
