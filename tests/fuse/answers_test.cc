// The adapter's reply paths without a kernel: each Answer* function is called with a FileSystem
// over an in-memory repository, and the reply value it returns (what Send would pass to
// fuse_reply_*) is checked: the kind of reply, its errno, its attributes and data.
#include "fuse/answers.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "weightfs/repo/keys.h"
#include "weightfs/repo/repository.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::fuse {
namespace {

constexpr NodeId kRoot = 1;

repo::Credential Passphrase() {
  repo::Credential c;
  c.kind = repo::Credential::Kind::kPassphrase;
  c.secret = SecretBytes(AsBytes(std::string("fuse answers test")));
  return c;
}

class AnswersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::NewMemoryStore();
    repo::InitOptions init;
    init.scrypt = repo::kTestScrypt;
    init.allow_weak_kdf = true;
    const Status s = repo::Repository::Init(store.get(), Passphrase(), init);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto opened = repo::Repository::Open(std::move(store), Passphrase(), "");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    repo_ = std::move(opened).value();
    ASSERT_NO_FATAL_FAILURE(Mount(false));
  }
  void TearDown() override {
    if (fs_) {
      EXPECT_TRUE(fs_->Shutdown().ok());
    }
  }
  void Mount(bool read_only) {
    if (fs_) {
      ASSERT_TRUE(fs_->Shutdown().ok());
    }
    fs_.reset();
    vfs::FsOptions o;
    o.read_only = read_only;
    o.statfs = [] {
      vfs::StatFsOut out;
      out.block_size = 8192;
      out.blocks = 100;
      return Result<vfs::StatFsOut>(out);
    };
    auto fs = vfs::FileSystem::Create(repo_.get(), o);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    ctx_.fs = fs_.get();
    ctx_.log = [this](const std::string& line) { log_.push_back(line); };
  }
  // The inode of a new regular file name in the root, written with content and closed.
  NodeId MakeFile(const std::string& name, const std::string& content) {
    Reply r = AnswerCreate(ctx_, caller_, kRoot, name.c_str(), 0644, O_RDWR | O_CREAT);
    const auto* created = std::get_if<CreateReply>(&r);
    EXPECT_NE(created, nullptr) << "create " << name << ": errno " << ErrorOf(r);
    if (!created) return 0;
    const NodeId ino = created->entry.ino;
    const uint64_t fh = created->open.handle;
    Reply w = AnswerWrite(ctx_, caller_, ino, fh, content.data(), content.size(), 0);
    EXPECT_NE(std::get_if<WriteReply>(&w), nullptr) << "write: errno " << ErrorOf(w);
    EXPECT_EQ(ErrorOf(AnswerFlush(ctx_, caller_, ino, fh)), 0);
    EXPECT_EQ(ErrorOf(AnswerRelease(ctx_, ino, fh)), 0);
    return ino;
  }

  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<vfs::FileSystem> fs_;
  AdapterContext ctx_;
  std::vector<std::string> log_;
  Caller caller_;  // root
};

bool IsError(const Reply& r, int error) {
  return std::holds_alternative<ErrorReply>(r) && ErrorOf(r) == error;
}

TEST_F(AnswersTest, LookupAnswersAnEntryOrEnoent) {
  EXPECT_TRUE(IsError(AnswerLookup(ctx_, caller_, kRoot, "missing"), ENOENT));
  Reply made = AnswerMkdir(ctx_, caller_, kRoot, "d", 0755);
  const auto* dir = std::get_if<EntryReply>(&made);
  ASSERT_NE(dir, nullptr) << ErrorOf(made);
  EXPECT_TRUE(S_ISDIR(dir->entry.attr.st_mode));
  EXPECT_EQ(dir->entry.attr.st_mode & 07777, 0755u);
  Reply found = AnswerLookup(ctx_, caller_, kRoot, "d");
  ASSERT_TRUE(std::holds_alternative<EntryReply>(found));
  EXPECT_EQ(std::get<EntryReply>(found).entry.ino, dir->entry.ino);
  EXPECT_TRUE(IsError(AnswerMkdir(ctx_, caller_, kRoot, "d", 0755), EEXIST));
}

TEST_F(AnswersTest, GetAttrOfTheRoot) {
  Reply r = AnswerGetAttr(ctx_, caller_, kRoot);
  ASSERT_TRUE(std::holds_alternative<AttrReply>(r)) << ErrorOf(r);
  EXPECT_TRUE(S_ISDIR(std::get<AttrReply>(r).attr.st_mode));
  EXPECT_EQ(std::get<AttrReply>(r).attr.st_ino, kRoot);
  EXPECT_TRUE(IsError(AnswerGetAttr(ctx_, caller_, 999999), ENOENT));
}

TEST_F(AnswersTest, SetAttrRequestOfTimes) {
  struct stat st {};
  st.st_mtim.tv_sec = 5;
  vfs::SetAttrRequest explicit_time = SetAttrRequestOf(st, FUSE_SET_ATTR_MTIME);
  EXPECT_TRUE(explicit_time.set_mtime);
  EXPECT_EQ(explicit_time.mtime_ns, 5000000000);
  EXPECT_FALSE(explicit_time.times_now);
  vfs::SetAttrRequest now = SetAttrRequestOf(st, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
  EXPECT_TRUE(now.set_mtime);
  EXPECT_TRUE(now.times_now);
  st.st_mode = S_IFREG | 0600;
  vfs::SetAttrRequest mode = SetAttrRequestOf(st, FUSE_SET_ATTR_MODE);
  EXPECT_TRUE(mode.set_mode);
  EXPECT_EQ(mode.mode, 0600u);
  EXPECT_FALSE(mode.set_size);
}

TEST_F(AnswersTest, SetAttrTruncates) {
  const NodeId ino = MakeFile("f", "hello world");
  struct stat st {};
  st.st_size = 5;
  Reply r = AnswerSetAttr(ctx_, caller_, ino, SetAttrRequestOf(st, FUSE_SET_ATTR_SIZE));
  ASSERT_TRUE(std::holds_alternative<AttrReply>(r)) << ErrorOf(r);
  EXPECT_EQ(std::get<AttrReply>(r).attr.st_size, 5);
}

TEST_F(AnswersTest, ReadRepliesWithTheDecryptedPieces) {
  const std::string content = "the quick brown fox";
  const NodeId ino = MakeFile("f", content);
  Reply opened = AnswerOpen(ctx_, caller_, ino, O_RDONLY);
  ASSERT_TRUE(std::holds_alternative<OpenReply>(opened)) << ErrorOf(opened);
  const uint64_t fh = std::get<OpenReply>(opened).handle;
  EXPECT_TRUE(std::get<OpenReply>(opened).keep_cache);
  Reply r = AnswerRead(ctx_, caller_, ino, fh, 1 << 20, 4);
  ASSERT_TRUE(std::holds_alternative<IovReply>(r)) << ErrorOf(r);
  EXPECT_EQ(AsString(std::get<IovReply>(r).pieces.Gather()), content.substr(4));
  EXPECT_EQ(ErrorOf(AnswerRelease(ctx_, ino, fh)), 0);
}

TEST_F(AnswersTest, WritesOnAReadOnlyMountAreRefusedByTheVfs) {
  const NodeId ino = MakeFile("f", "data");
  ASSERT_NO_FATAL_FAILURE(Mount(true));
  Reply found = AnswerLookup(ctx_, caller_, kRoot, "f");
  ASSERT_TRUE(std::holds_alternative<EntryReply>(found));
  const NodeId ro_ino = std::get<EntryReply>(found).entry.ino;
  (void)ino;
  EXPECT_TRUE(IsError(AnswerOpen(ctx_, caller_, ro_ino, O_WRONLY), EROFS));
  EXPECT_TRUE(IsError(AnswerOpen(ctx_, caller_, ro_ino, O_RDWR), EROFS));
  EXPECT_TRUE(IsError(AnswerOpen(ctx_, caller_, ro_ino, O_RDONLY | O_TRUNC), EROFS));
  Reply read = AnswerOpen(ctx_, caller_, ro_ino, O_RDONLY);
  ASSERT_TRUE(std::holds_alternative<OpenReply>(read)) << ErrorOf(read);
  EXPECT_EQ(ErrorOf(AnswerRelease(ctx_, ro_ino, std::get<OpenReply>(read).handle)), 0);
  EXPECT_TRUE(IsError(AnswerMkdir(ctx_, caller_, kRoot, "d", 0755), EROFS));
  EXPECT_TRUE(IsError(AnswerCreate(ctx_, caller_, kRoot, "g", 0644, O_WRONLY | O_CREAT), EROFS));
  EXPECT_TRUE(IsError(AnswerMknod(ctx_, caller_, kRoot, "n", S_IFREG | 0644, 0), EROFS));
}

TEST_F(AnswersTest, MknodMakesRegularAndSpecialFiles) {
  Reply file = AnswerMknod(ctx_, caller_, kRoot, "plain", S_IFREG | 0640, 0);
  ASSERT_TRUE(std::holds_alternative<EntryReply>(file)) << ErrorOf(file);
  EXPECT_TRUE(S_ISREG(std::get<EntryReply>(file).entry.attr.st_mode));
  EXPECT_EQ(std::get<EntryReply>(file).entry.attr.st_size, 0);
  Reply fifo = AnswerMknod(ctx_, caller_, kRoot, "pipe", S_IFIFO | 0600, 0);
  ASSERT_TRUE(std::holds_alternative<EntryReply>(fifo)) << ErrorOf(fifo);
  EXPECT_TRUE(S_ISFIFO(std::get<EntryReply>(fifo).entry.attr.st_mode));
  EXPECT_TRUE(IsError(AnswerMknod(ctx_, caller_, kRoot, "plain", S_IFREG | 0640, 0), EEXIST));
  EXPECT_TRUE(IsError(AnswerMknod(ctx_, caller_, kRoot, "bad", 0644, 0), EINVAL));  // no type
}

TEST_F(AnswersTest, RenameFlags) {
  MakeFile("a", "1");
  MakeFile("b", "2");
  EXPECT_TRUE(
      IsError(AnswerRename(ctx_, caller_, kRoot, "a", kRoot, "b", RENAME_EXCHANGE), EINVAL));
  EXPECT_TRUE(
      IsError(AnswerRename(ctx_, caller_, kRoot, "a", kRoot, "b", RENAME_NOREPLACE), EEXIST));
  EXPECT_TRUE(IsError(AnswerRename(ctx_, caller_, kRoot, "a", kRoot, "c", RENAME_NOREPLACE), 0));
  EXPECT_TRUE(IsError(AnswerLookup(ctx_, caller_, kRoot, "a"), ENOENT));
  EXPECT_TRUE(IsError(AnswerRename(ctx_, caller_, kRoot, "c", kRoot, "b", 0), 0));
}

TEST_F(AnswersTest, UnlinkAndRmdir) {
  MakeFile("f", "x");
  ASSERT_TRUE(std::holds_alternative<EntryReply>(AnswerMkdir(ctx_, caller_, kRoot, "d", 0755)));
  EXPECT_TRUE(IsError(AnswerRmdir(ctx_, caller_, kRoot, "f"), ENOTDIR));
  EXPECT_TRUE(IsError(AnswerUnlink(ctx_, caller_, kRoot, "d"), EISDIR));
  EXPECT_TRUE(IsError(AnswerUnlink(ctx_, caller_, kRoot, "f"), 0));
  EXPECT_TRUE(IsError(AnswerRmdir(ctx_, caller_, kRoot, "d"), 0));
  EXPECT_TRUE(IsError(AnswerUnlink(ctx_, caller_, kRoot, "f"), ENOENT));
}

TEST_F(AnswersTest, SymlinkAndReadLink) {
  Reply made = AnswerSymlink(ctx_, caller_, "target/path", kRoot, "l");
  ASSERT_TRUE(std::holds_alternative<EntryReply>(made)) << ErrorOf(made);
  Reply r = AnswerReadLink(ctx_, caller_, std::get<EntryReply>(made).entry.ino);
  ASSERT_TRUE(std::holds_alternative<ReadlinkReply>(r)) << ErrorOf(r);
  EXPECT_EQ(std::get<ReadlinkReply>(r).target, "target/path");
  EXPECT_TRUE(IsError(AnswerReadLink(ctx_, caller_, kRoot), EINVAL));
}

TEST_F(AnswersTest, XattrsAnswerEnodataAndErange) {
  const NodeId ino = MakeFile("f", "x");
  EXPECT_TRUE(IsError(AnswerGetXattr(ctx_, caller_, ino, "user.none", 0), ENODATA));
  EXPECT_TRUE(IsError(AnswerRemoveXattr(ctx_, caller_, ino, "user.none"), ENODATA));
  EXPECT_TRUE(
      IsError(AnswerSetXattr(ctx_, caller_, ino, "user.none", "v", 1, XATTR_REPLACE), ENODATA));
  EXPECT_TRUE(IsError(AnswerSetXattr(ctx_, caller_, ino, "user.k", "value", 5, 0), 0));
  Reply size = AnswerGetXattr(ctx_, caller_, ino, "user.k", 0);
  ASSERT_TRUE(std::holds_alternative<XattrSizeReply>(size)) << ErrorOf(size);
  EXPECT_EQ(std::get<XattrSizeReply>(size).size, 5u);
  EXPECT_TRUE(IsError(AnswerGetXattr(ctx_, caller_, ino, "user.k", 4), ERANGE));
  Reply value = AnswerGetXattr(ctx_, caller_, ino, "user.k", 64);
  ASSERT_TRUE(std::holds_alternative<BufferReply>(value)) << ErrorOf(value);
  EXPECT_EQ(std::string(std::get<BufferReply>(value).data.begin(),
                        std::get<BufferReply>(value).data.end()),
            "value");
  Reply names = AnswerListXattr(ctx_, caller_, ino, 64);
  ASSERT_TRUE(std::holds_alternative<BufferReply>(names)) << ErrorOf(names);
  const std::vector<char>& list = std::get<BufferReply>(names).data;
  EXPECT_EQ(std::string(list.begin(), list.end()), std::string("user.k\0", 7));
  EXPECT_TRUE(IsError(AnswerListXattr(ctx_, caller_, ino, 3), ERANGE));
  Reply list_size = AnswerListXattr(ctx_, caller_, ino, 0);
  ASSERT_TRUE(std::holds_alternative<XattrSizeReply>(list_size));
  EXPECT_EQ(std::get<XattrSizeReply>(list_size).size, 7u);
  EXPECT_TRUE(IsError(AnswerRemoveXattr(ctx_, caller_, ino, "user.k"), 0));
}

TEST_F(AnswersTest, FallocateRefusesModesAndEmptyRanges) {
  const NodeId ino = MakeFile("f", "x");
  EXPECT_TRUE(IsError(AnswerFallocate(ctx_, caller_, ino, 1, 0, 10), EOPNOTSUPP));
  EXPECT_TRUE(IsError(AnswerFallocate(ctx_, caller_, ino, 0, -1, 10), EINVAL));
  EXPECT_TRUE(IsError(AnswerFallocate(ctx_, caller_, ino, 0, 0, 0), EINVAL));
  EXPECT_TRUE(IsError(AnswerFallocate(ctx_, caller_, ino, 0, 0, 4096), 0));
  Reply attr = AnswerGetAttr(ctx_, caller_, ino);
  ASSERT_TRUE(std::holds_alternative<AttrReply>(attr));
  EXPECT_EQ(std::get<AttrReply>(attr).attr.st_size, 4096);
}

TEST_F(AnswersTest, LseekFindsDataAndAnswersEnxioPastTheEnd) {
  const NodeId ino = MakeFile("f", "0123456789");
  Reply opened = AnswerOpen(ctx_, caller_, ino, O_RDONLY);
  ASSERT_TRUE(std::holds_alternative<OpenReply>(opened));
  EXPECT_TRUE(IsError(AnswerLseek(ctx_, caller_, ino, 0, SEEK_SET), EINVAL));
  EXPECT_TRUE(IsError(AnswerLseek(ctx_, caller_, ino, -1, SEEK_DATA), EINVAL));
  Reply data = AnswerLseek(ctx_, caller_, ino, 3, SEEK_DATA);
  ASSERT_TRUE(std::holds_alternative<LseekReply>(data)) << ErrorOf(data);
  EXPECT_EQ(std::get<LseekReply>(data).offset, 3);
  Reply hole = AnswerLseek(ctx_, caller_, ino, 3, SEEK_HOLE);
  ASSERT_TRUE(std::holds_alternative<LseekReply>(hole)) << ErrorOf(hole);
  EXPECT_EQ(std::get<LseekReply>(hole).offset, 10);
  EXPECT_TRUE(IsError(AnswerLseek(ctx_, caller_, ino, 20, SEEK_DATA), ENXIO));
  EXPECT_EQ(ErrorOf(AnswerRelease(ctx_, ino, std::get<OpenReply>(opened).handle)), 0);
}

// The names in a readdir buffer (struct fuse_dirent records: ino, off, namelen, type, name).
std::vector<std::string> DirentNames(const std::vector<char>& buf, bool plus) {
  std::vector<std::string> names;
  size_t pos = 0;
  const size_t entry_out = plus ? 40 + 88 : 0;  // fuse_entry_out before each fuse_dirent
  while (pos + entry_out + 24 <= buf.size()) {
    pos += entry_out;
    uint32_t namelen;
    std::memcpy(&namelen, buf.data() + pos + 16, 4);
    names.emplace_back(buf.data() + pos + 24, namelen);
    pos += (24 + namelen + 7) & ~size_t{7};
  }
  return names;
}

TEST_F(AnswersTest, ReadDirListsTheEntries) {
  MakeFile("one", "1");
  MakeFile("two", "2");
  for (bool plus : {false, true}) {
    Reply opened = AnswerOpenDir(ctx_, caller_, kRoot);
    ASSERT_TRUE(std::holds_alternative<OpenReply>(opened)) << ErrorOf(opened);
    const uint64_t fh = std::get<OpenReply>(opened).handle;
    Reply r = AnswerReadDir(ctx_, caller_, caller_, kRoot, fh, 4096, 0, plus);
    ASSERT_TRUE(std::holds_alternative<BufferReply>(r)) << ErrorOf(r);
    EXPECT_EQ(DirentNames(std::get<BufferReply>(r).data, plus),
              (std::vector<std::string>{".", "..", "one", "two"}))
        << "plus " << plus;
    // A buffer too small for any entry gives an empty listing, not an error.
    Reply tiny = AnswerReadDir(ctx_, caller_, caller_, kRoot, fh, 8, 0, plus);
    ASSERT_TRUE(std::holds_alternative<BufferReply>(tiny)) << ErrorOf(tiny);
    EXPECT_TRUE(std::get<BufferReply>(tiny).data.empty());
    EXPECT_EQ(ErrorOf(AnswerReleaseDir(ctx_, kRoot, fh)), 0);
  }
  EXPECT_TRUE(IsError(AnswerOpenDir(ctx_, caller_, 999999), ENOENT));
}

TEST_F(AnswersTest, StatFsAndAccess) {
  Reply r = AnswerStatFs(ctx_, caller_);
  ASSERT_TRUE(std::holds_alternative<StatfsReply>(r)) << ErrorOf(r);
  EXPECT_EQ(std::get<StatfsReply>(r).st.f_bsize, 8192u);
  EXPECT_EQ(std::get<StatfsReply>(r).st.f_blocks, 100u);
  EXPECT_TRUE(IsError(AnswerAccess(ctx_, caller_, kRoot, R_OK | X_OK), 0));
  EXPECT_TRUE(IsError(AnswerAccess(ctx_, caller_, 999999, F_OK), ENOENT));
}

TEST_F(AnswersTest, FsyncAndFsyncDir) {
  const NodeId ino = MakeFile("f", "x");
  EXPECT_TRUE(IsError(AnswerFsync(ctx_, caller_, ino), 0));
  EXPECT_TRUE(IsError(AnswerFsyncDir(ctx_, caller_, kRoot), 0));
}

TEST_F(AnswersTest, FailuresAnsweringEioAreLoggedOnce) {
  log_.clear();
  EXPECT_EQ(FailureReply(ctx_, "read", Corruption("chunk abc: authentication failed"),
                         ErrnoContext::kDefault, "at offset 7")
                .error,
            EIO);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], "read failed at offset 7: chunk abc: authentication failed");
  EXPECT_EQ(FailureReply(ctx_, "lookup", NotFound("x")).error, ENOENT);
  EXPECT_EQ(FailureReply(ctx_, "open", PermissionDenied("x")).error, EACCES);
  EXPECT_EQ(log_.size(), 1u);  // expected answers are not logged
  EXPECT_EQ(StatusReply(ctx_, "fsync", Status::Ok()).error, 0);
}

}  // namespace
}  // namespace weightfs::fuse
