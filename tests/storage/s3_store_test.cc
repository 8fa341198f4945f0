// S3Store on the fake S3 server with faults injected: retries of throttling, server errors,
// closed connections and timeouts (logged without secrets), giving up with a clear error, the
// compare-and-swap whose answer was lost, pagination of listings and exact ranged reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/s3_test_util.h"
#include "storage/storage_test_util.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::storage::s3 {
namespace {

using storage::testing::TestData;
using storage::testing::TestId;

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(std::vector<std::string> args) {
    if (std::string why = testing::FakeS3Unavailable(); !why.empty()) GTEST_SKIP() << why;
    store_.reset();
    args.insert(args.end(), {"--verify", "AKIDFAKE:fake-secret"});
    server_ = std::make_unique<testing::FakeS3>(std::move(args));
    ASSERT_EQ(server_->error(), "");
    auto store = S3Store::Open(server_->Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto probed = store_->ProbeConditionalWrites();
    ASSERT_TRUE(probed.ok()) << probed.status().ToString();
  }

  void Fault(const std::string& spec) { ASSERT_EQ(server_->Command("fault " + spec), "ok"); }

  // Every log line so far; none may hold a secret or a signature.
  std::vector<std::string> Logs() {
    std::vector<std::string> logs = server_->logs();
    for (const std::string& line : logs) {
      EXPECT_EQ(line.find("fake-secret"), std::string::npos) << line;
      EXPECT_EQ(line.find("Authorization"), std::string::npos) << line;
      EXPECT_EQ(line.find("Signature"), std::string::npos) << line;
    }
    return logs;
  }
  size_t RetryLogs() {
    std::vector<std::string> logs = Logs();
    return std::count_if(logs.begin(), logs.end(), [](const std::string& l) {
      return l.find("retrying in") != std::string::npos;
    });
  }

  std::unique_ptr<testing::FakeS3> server_;
  std::unique_ptr<S3Store> store_;
};

TEST_F(S3StoreTest, RetryableAnswersAreRetried) {
  const ObjectId id = TestId(0x11, 1);
  const Bytes data = TestData(5000, 1);
  WFS_ASSERT_OK(store_->Put(id, data));
  size_t retries = 0;
  for (const char* kind : {"503", "500", "429", "reqtimeout"}) {
    SCOPED_TRACE(kind);
    Fault(std::string(kind) + " 2 GET");
    const int before = server_->RequestCount();
    auto got = store_->Get(id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data);
    EXPECT_EQ(server_->RequestCount() - before, 3);  // two failures, one success
    retries += 2;
    EXPECT_EQ(RetryLogs(), retries);
  }
  const std::vector<std::string> logs = Logs();
  ASSERT_GE(logs.size(), 2u);  // the probe's line, then the retries
  EXPECT_NE(logs[1].find("503 SlowDown"), std::string::npos) << logs.front();
  EXPECT_NE(logs[1].find(store_->location().Url()), std::string::npos) << logs[1];
}

TEST_F(S3StoreTest, GivesUpAfterMaxAttemptsWithTheLastAnswer) {
  Fault("503 100 *");
  auto got = store_->Get(TestId(0x12, 2));
  ASSERT_CODE(got, Code::kIoError);
  const std::string m = got.status().message();
  EXPECT_NE(m.find("after 4 attempts"), std::string::npos) << m;
  EXPECT_NE(m.find("503 SlowDown"), std::string::npos) << m;
  EXPECT_NE(m.find("try again later"), std::string::npos) << m;
  EXPECT_EQ(RetryLogs(), 3u);
}

TEST_F(S3StoreTest, NotRetryableAnswersAreNotRetried) {
  Fault("error 1 GET 403 AccessDenied");
  auto got = store_->ReadFile("config");
  ASSERT_CODE(got, Code::kPermissionDenied);
  EXPECT_NE(got.status().message().find("AccessDenied"), std::string::npos);
  EXPECT_EQ(RetryLogs(), 0u);
}

TEST_F(S3StoreTest, ClosedConnectionsAreRetried) {
  const ObjectId id = TestId(0x13, 3);
  WFS_ASSERT_OK(store_->Put(id, TestData(100, 3)));
  Fault("close 3 HEAD");
  auto size = store_->Size(id);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 100u);
  EXPECT_GE(RetryLogs(), 1u);  // curl itself resends once on a kept-alive connection
}

TEST_F(S3StoreTest, TimeoutsAreRetried) {
  const ObjectId id = TestId(0x14, 4);
  WFS_ASSERT_OK(store_->Put(id, TestData(100, 4)));
  Fault("delay 1 GET 3");  // past the 1 s timeout
  auto got = store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, TestData(100, 4));
  const std::vector<std::string> logs = Logs();
  ASSERT_EQ(RetryLogs(), 1u);
  EXPECT_NE(logs.back().find("no progress for 1000 ms"), std::string::npos) << logs.back();
}

TEST_F(S3StoreTest, UnreachableEndpointIsAnIoErrorNamingIt) {
  StoreOptions o = server_->Options();
  o.settings.endpoint = "http://127.0.0.1:1";
  o.max_attempts = 2;
  auto store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kIoError);
  const std::string m = store.status().message();
  EXPECT_NE(m.find("cannot reach the S3 endpoint http://127.0.0.1:1"), std::string::npos) << m;
  EXPECT_NE(m.find("after 2 attempts"), std::string::npos) << m;
  o = server_->Options();
  o.settings.endpoint = "http://no-such-host.invalid";
  store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kIoError);
  EXPECT_NE(store.status().message().find("no-such-host.invalid"), std::string::npos);
}

TEST_F(S3StoreTest, CompareAndSwapWhoseAnswerWasLostSucceeds) {
  ASSERT_EQ(store_->conditional_writes(), ConditionalWrites::kSupported);
  WFS_ASSERT_OK(store_->WriteFile("refs/main", AsBytes("a")));
  // The PUT takes effect but its answer never comes; the resent PUT then fails its If-Match.
  Fault("lost 1 PUT");
  WFS_ASSERT_OK(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")));
  EXPECT_EQ(*store_->ReadFile("refs/main"), ToBytes("b"));
  // Without a lost answer a failed precondition stays a conflict.
  EXPECT_CODE(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")), Code::kConflict);
  // The same for creation with If-None-Match: *.
  Fault("lost 1 PUT");
  WFS_ASSERT_OK(store_->CompareAndSwapFile("refs/new", std::nullopt, AsBytes("1")));
  EXPECT_EQ(*store_->ReadFile("refs/new"), ToBytes("1"));
  Fault("lost 1 PUT");
  WFS_ASSERT_OK(store_->CreateFileExclusive("locks/writer", AsBytes("me")));
  EXPECT_CODE(store_->CreateFileExclusive("locks/writer", AsBytes("me")), Code::kAlreadyExists);
}

// S3 documents that a write answered 500 may have been applied: the retry then meets its own
// write (a 412), which must count as success, not as someone else's file.
TEST_F(S3StoreTest, WriteAppliedThenAnswered500Succeeds) {
  ASSERT_EQ(store_->conditional_writes(), ConditionalWrites::kSupported);
  Fault("applied500 1 PUT");
  WFS_ASSERT_OK(store_->CreateFileExclusive("leases/abc", AsBytes("mine")));
  EXPECT_EQ(*store_->ReadFile("leases/abc"), ToBytes("mine"));
  Fault("applied500 1 PUT");
  WFS_ASSERT_OK(store_->CompareAndSwapFile("leases/abc", ToBytes("mine"), AsBytes("next")));
  EXPECT_EQ(*store_->ReadFile("leases/abc"), ToBytes("next"));
  // Someone else's bytes behind the 412 after a retry stay someone else's.
  WFS_ASSERT_OK(store_->CreateFileExclusive("leases/def", AsBytes("theirs")));
  Fault("500 1 PUT");  // not applied; the retry meets their file
  EXPECT_CODE(store_->CreateFileExclusive("leases/def", AsBytes("mine")), Code::kAlreadyExists);
  EXPECT_EQ(*store_->ReadFile("leases/def"), ToBytes("theirs"));
}

TEST_F(S3StoreTest, LostAnswerThenAnotherWritersBytesIsAConflict) {
  WFS_ASSERT_OK(store_->WriteFile("refs/main", AsBytes("a")));
  // Our write is lost, and a 412 comes back; the file holds another writer's bytes, not ours.
  ASSERT_EQ(server_->Command("fault error 1 PUT 412 PreconditionFailed"), "ok");
  EXPECT_CODE(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")), Code::kConflict);
  Fault("lost 1 PUT");
  // The lost PUT wrote "b"; the resend is refused; the file holds what we wrote: success.
  WFS_ASSERT_OK(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")));
}

TEST_F(S3StoreTest, ConcurrentWriterWinsWithConditionalWrites) {
  WFS_ASSERT_OK(store_->WriteFile("refs/main", AsBytes("a")));
  // A second store (another process) replaces the file between our read and our write.
  auto other = S3Store::Open(server_->Options());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  WFS_ASSERT_OK((*other)->WriteFile("refs/main", AsBytes("x")));
  EXPECT_CODE(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")), Code::kConflict);
  EXPECT_EQ(*store_->ReadFile("refs/main"), ToBytes("x"));
}

TEST_F(S3StoreTest, ServerThatMatchesOnlyBareETags) {
  Start({"--bare-etag-only"});  // as radosgw: a quoted ETag in If-Match never matches
  EXPECT_EQ(store_->conditional_writes(), ConditionalWrites::kSupported);
  WFS_ASSERT_OK(store_->WriteFile("refs/main", AsBytes("a")));
  WFS_ASSERT_OK(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")));
  EXPECT_CODE(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("c")), Code::kConflict);
  // A store that did not probe learns it from its first compare-and-swap.
  auto other = S3Store::Open(server_->Options());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  WFS_ASSERT_OK((*other)->CompareAndSwapFile("refs/main", ToBytes("b"), AsBytes("c")));
  EXPECT_EQ(*store_->ReadFile("refs/main"), ToBytes("c"));
  const std::vector<std::string> logs = Logs();
  EXPECT_NE(logs.back().find("matches only bare ETags"), std::string::npos) << logs.back();
  // A second store changes the file between our read and our write: still a conflict.
  WFS_ASSERT_OK((*other)->WriteFile("refs/main", AsBytes("x")));
  EXPECT_CODE(store_->CompareAndSwapFile("refs/main", ToBytes("c"), AsBytes("d")), Code::kConflict);
}

TEST_F(S3StoreTest, ListingsFollowContinuationTokens) {
  ASSERT_EQ(server_->Command("pagesize 3"), "ok");
  std::map<ObjectId, uint64_t> want;
  for (uint32_t i = 0; i < 11; ++i) {
    const ObjectId id = TestId(static_cast<uint8_t>(i * 23), i);
    WFS_ASSERT_OK(store_->Put(id, TestData(i, i)));
    want[id] = i;
  }
  for (const char* name : {"keys/a", "keys/b", "keys/c", "keys/d", "keys/e", "keys/sub/x"}) {
    WFS_ASSERT_OK(store_->WriteFile(name, AsBytes(name)));
  }
  const int before = server_->RequestCount();
  std::map<ObjectId, uint64_t> got;
  WFS_ASSERT_OK(store_->ForEach([&](const ObjectId& id, uint64_t size) {
    got[id] = size;
    return Status::Ok();
  }));
  EXPECT_EQ(got, want);
  EXPECT_EQ(server_->RequestCount() - before, 4);  // 11 keys in pages of 3
  auto files = store_->ListFiles("keys");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(*files, (std::vector<std::string>{"keys/a", "keys/b", "keys/c", "keys/d", "keys/e"}));
}

TEST_F(S3StoreTest, ConnectionsAreKeptAliveAndBounded) {
  const ObjectId id = TestId(0x18, 9);
  WFS_ASSERT_OK(store_->Put(id, TestData(100, 9)));
  const int before = server_->Counter("connections");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store_->Get(id).ok());
  EXPECT_EQ(server_->Counter("connections"), before);  // one thread: one kept-alive connection

  StoreOptions o = server_->Options();
  o.max_connections = 2;
  auto two = S3Store::Open(std::move(o));
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  Fault("delay 8 GET 0.2");
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (!(*two)->Get(id).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server_->Counter("max_inflight"), 2);
}

TEST_F(S3StoreTest, ReadIntoWritesExactlyTheBytesAsked) {
  const ObjectId id = TestId(0x15, 5);
  const Bytes data = TestData(10000, 5);
  WFS_ASSERT_OK(store_->Put(id, data));
  Bytes buf(300, 0xee);
  auto n = store_->ReadInto(id, 100, std::span<uint8_t>(buf).subspan(100, 50));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 50u);
  EXPECT_TRUE(std::equal(buf.begin() + 100, buf.begin() + 150, data.begin() + 100));
  EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + 100, [](uint8_t b) { return b == 0xee; }));
  EXPECT_TRUE(std::all_of(buf.begin() + 150, buf.end(), [](uint8_t b) { return b == 0xee; }));
  // Short at the end, nothing past it, kNotFound when missing.
  std::fill(buf.begin(), buf.end(), 0xee);
  n = store_->ReadInto(id, 9990, std::span<uint8_t>(buf).first(100));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 10, data.begin() + 9990));
  EXPECT_EQ(buf[10], 0xee);
  n = store_->ReadInto(id, 10000, std::span<uint8_t>(buf).first(100));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_CODE(store_->ReadInto(TestId(0x16, 6), 0, std::span<uint8_t>(buf)), Code::kNotFound);
  // A retried read starts over and still fills exactly the span.
  Fault("500 1 GET");
  n = store_->ReadInto(id, 5000, std::span<uint8_t>(buf).first(200));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 200u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 200, data.begin() + 5000));
}

TEST_F(S3StoreTest, ReadFileAtMostRefusesALargerFile) {
  WFS_ASSERT_OK(store_->WriteFile("refs/main", TestData(1000, 7)));
  auto r = store_->ReadFileAtMost("refs/main", 100);
  ASSERT_CODE(r, Code::kCorruption);
  EXPECT_NE(r.status().message().find("1000 bytes"), std::string::npos) << r.status().message();
  // The bound is the file's: an error document longer than it is still read.
  Fault("error 1 GET 403 AccessDenied");
  r = store_->ReadFileAtMost("refs/main", 10);
  ASSERT_CODE(r, Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("AccessDenied"), std::string::npos) << r.status().message();
  auto ok = store_->ReadFileAtMost("refs/main", 1000);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(**ok, TestData(1000, 7));
}

TEST_F(S3StoreTest, TouchRenewsAnObjectAndTryLockIsUnsupported) {
  const ObjectId id = TestId(0x17, 8);
  EXPECT_CODE(store_->Touch(id), Code::kNotFound);
  WFS_ASSERT_OK(store_->Put(id, TestData(64, 8)));
  WFS_ASSERT_OK(store_->Touch(id));
  EXPECT_EQ(*store_->Get(id), TestData(64, 8));
  EXPECT_CODE(store_->TryLock("locks/writer", false), Code::kUnsupported);
}

TEST_F(S3StoreTest, ProbeRecordsTheResultAndLeavesNoScratchFile) {
  EXPECT_EQ(store_->conditional_writes(), ConditionalWrites::kSupported);
  EXPECT_EQ(*store_->ReadFile(kConditionalWritesFile), ToBytes("supported\n"));
  EXPECT_EQ(server_->Command("get repo/s3-conditional-writes"),
            "ok " + ToHex(AsBytes("supported\n")));
  auto top = store_->ListFiles("");
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE(top->empty()) << (*top)[0];
  auto reopened = S3Store::Open(server_->Options());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->conditional_writes(), ConditionalWrites::kSupported);

  Start({"--no-conditional"});
  EXPECT_EQ(store_->conditional_writes(), ConditionalWrites::kUnsupported);
  EXPECT_EQ(*store_->ReadFile(kConditionalWritesFile), ToBytes("unsupported\n"));
  reopened = S3Store::Open(server_->Options());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->conditional_writes(), ConditionalWrites::kUnsupported);
}

}  // namespace
}  // namespace weightfs::storage::s3
