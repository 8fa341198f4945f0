// The FileContentTest fixture shared by the file_content_*_test.cc files: an in-memory
// repository with the cheap KDF and the smallest chunks it accepts, and checks of a sealed
// file object against a plain byte-vector model.
// The fixture is one class for all its test files (gtest requires one fixture type per suite);
// the constants are const, so each test file has its own copy.
#pragma once

#include "vfs/file_content.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/repo_fixtures.h"
#include "support/safetensors_gen.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::vfs {

using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::RandomBytes;
using repo::testing::SharedStore;
using repo::testing::StoredBytes;
using repo::testing::TestSeed;

constexpr char kPass[] = "file content test";
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
// The smallest chunks a repository accepts, so that a few MiB make many chunks.
constexpr repo::ChunkerParams kSmallChunks{64 * 1024, 128 * 1024, 512 * 1024};

class FileContentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::InitOptions opts = FastInit();
    opts.chunker = kSmallChunks;
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase(kPass), opts));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
    ASSERT_EQ(repo_->config().chunker.max_size, kSmallChunks.max_size);
  }

  // The whole content of c.
  static Bytes ReadAll(const FileContent& c) {
    Bytes out;
    Status s = c.Read(0, c.size(), &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Checks a sealed file object against the model and reopens it as a fresh FileContent whose
  // whole content must equal the model.
  void CheckSealed(const ObjectId& id, const repo::FileObject& file, const Bytes& model) {
    ASSERT_EQ(file.size, model.size());
    uint64_t sum = 0;
    for (size_t i = 0; i < file.chunks.size(); ++i) {
      const repo::ChunkRef& c = file.chunks[i];
      ASSERT_GT(c.size, 0u) << "empty chunk in a sealed file";
      if (c.hole) {
        ASSERT_FALSE(i > 0 && file.chunks[i - 1].hole) << "two holes in a row";
      } else {
        ASSERT_LE(c.size, kSmallChunks.max_size);
      }
      sum += c.size;
    }
    ASSERT_EQ(sum, file.size);
    REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject loaded, repo_->objects().LoadFile(id));
    ASSERT_EQ(loaded.size, file.size);
    ASSERT_TRUE(loaded.chunks == file.chunks);
    std::atomic<int64_t> counter{0};
    FileContent fresh(repo_.get(), file, &counter);
    ASSERT_EQ(fresh.size(), model.size());
    ASSERT_EQ(fresh.dirty_bytes(), 0);
    ASSERT_FALSE(fresh.dirty());
    Bytes all = ReadAll(fresh);
    ASSERT_EQ(all.size(), model.size());
    ASSERT_TRUE(all == model) << "reopened content differs at offset "
                              << (std::mismatch(all.begin(), all.end(), model.begin()).first -
                                  all.begin());
    ASSERT_EQ(counter.load(), 0);
  }

  static std::vector<ObjectId> Ids(const repo::FileObject& f) {
    std::vector<ObjectId> ids;
    for (const repo::ChunkRef& c : f.chunks) ids.push_back(c.id);
    return ids;
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
};

}  // namespace weightfs::vfs
