// The repository's small records (records.h) against damaged input, each case a bug the fuzzers or
// the sanitizers found: JSON numbers that were converted with a plain cast (a float
// out of range is undefined behaviour, a large integer wrapped) and lock records whose fields have
// the wrong type (an uncaught nlohmann exception ended the process).
#include <gtest/gtest.h>
#include <unistd.h>

#include "repo/records.h"
#include "support/repo_fixtures.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/writer_lock.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::repo {
namespace {

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(LeaseRecordTest, NumbersOutOfRangeAreCorruption) {
  const std::string good =
      R"({"host":"h","kind":"write","pid":12,"roots":[],"since":1700000000,"what":"x"})";
  ASSERT_TRUE(DecodeLeaseRecord("locks/lease-a", AsBytes(good)).ok());
  for (const char* pid : {"1e300", "-1e300", "4294967296", "2.5", "\"12\""}) {
    const std::string bad = Replace(good, "\"pid\":12", std::string("\"pid\":") + pid);
    EXPECT_EQ(DecodeLeaseRecord("locks/lease-a", AsBytes(bad)).status().code(), Code::kCorruption)
        << bad;
  }
  const std::string bad_since = Replace(good, "1700000000", "1e300");
  EXPECT_EQ(DecodeLeaseRecord("locks/lease-a", AsBytes(bad_since)).status().code(),
            Code::kCorruption);
  const std::string roots_object = Replace(good, "\"roots\":[]", R"("roots":{"a":"b"})");
  EXPECT_EQ(DecodeLeaseRecord("locks/lease-a", AsBytes(roots_object)).status().code(),
            Code::kCorruption);
}

TEST(LockRecordTest, FieldsOfTheWrongTypeKeepTheirDefaults) {
  for (const char* text : {R"({"host":5,"pid":"x","time":1e300,"mountpoint":[]})", R"([1,2])", "{",
                           R"("s")", R"({"pid":1e300})", R"({"pid":-4294967297})"}) {
    const LockRecord r = ParseLockRecord(ToBytes(text));
    EXPECT_EQ(r.host, "") << text;
    EXPECT_EQ(r.pid, 0) << text;
    EXPECT_EQ(r.time, 0) << text;
    EXPECT_FALSE(r.mountpoint.has_value()) << text;
  }
  const LockRecord r =
      ParseLockRecord(ToBytes(R"({"host":"h","pid":7,"time":9,"mountpoint":"/m"})"));
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.host, "h");
  EXPECT_EQ(r.pid, 7);
  EXPECT_EQ(r.time, 9);
  EXPECT_EQ(r.mountpoint, "/m");
  EXPECT_FALSE(ParseLockRecord(std::nullopt).parsed);
}

// A mount that found this locks/writer used to die of an uncaught nlohmann::json::type_error.
TEST(LockRecordTest, WriterLockSurvivesARecordOfTheWrongTypes) {
  std::unique_ptr<storage::ObjectStore> store = storage::NewMemoryStore();
  ASSERT_TRUE(store->WriteFile("locks/writer", ToBytes(R"({"host":5,"pid":"x","time":"y"})")).ok());
  std::string note;
  auto lock = WriterLock::Acquire(store.get(), "/mnt", static_cast<int>(::getpid()), &note);
  if (lock.ok()) {
    EXPECT_NE(note.find("pid 0 on host ?"), std::string::npos) << note;
  } else {
    EXPECT_EQ(lock.status().code(), Code::kBusy);
    EXPECT_NE(lock.status().message().find("pid 0 on host ?"), std::string::npos)
        << lock.status().message();
  }
}

TEST(SeqStateTest, OnlyWhatWeightfsWrites) {
  const std::string hex(64, 'a');
  auto s = ParseSeqState("seq 12\nhead " + hex + "\n", "head");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->seq, 12u);
  EXPECT_EQ(s->value, hex);
  auto none = ParseSeqState("seq 0\nid -\n", "id");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->value, "");
  EXPECT_EQ(ParseSeqState("seq 9999999999999999999\nid -\n", "id")->seq, 9999999999999999999u);
  for (const std::string& bad :
       {std::string(""), std::string("seq "), std::string("seq 1\nhead "),
        std::string("seq 1\nhead \n"), std::string("seq 1\nid -\n"), std::string("seq \nhead -\n"),
        std::string("seq 1x\nhead -\n"), std::string("seq 10000000000000000000\nhead -\n"),
        "seq 1\nhead " + hex, "seq 1\nhead " + std::string(64, 'A') + "\n",
        std::string("seq 1\nhead -\nx\n")}) {
    EXPECT_FALSE(ParseSeqState(bad, "head").has_value()) << bad;
  }
}

class ConfigNumbersTest : public ::testing::Test {
 protected:
  std::string Serialized() {
    RepoConfig config;
    config.repo_id = Bytes(kRepoIdSize, 1);
    config.created = "2026-01-01T00:00:00Z";
    auto bytes = SerializeConfig(config, mac_key_);
    EXPECT_TRUE(bytes.ok());
    return std::string(AsString(*bytes));
  }
  SecretBytes mac_key_{Bytes(32, 2)};
};

// "version": 4294967297 used to wrap to 1 and pass as format v1; 1e+300 was undefined behaviour.
TEST_F(ConfigNumbersTest, VersionOutOfRangeIsCorruption) {
  const std::string good = Serialized();
  ASSERT_TRUE(ParseConfig(AsBytes(good)).ok());
  for (const char* version : {"4294967297", "1e+300", "1.0", "-1"}) {
    const std::string bad = Replace(good, "\"version\": 1", std::string("\"version\": ") + version);
    EXPECT_EQ(ParseConfig(AsBytes(bad)).status().code(), Code::kCorruption) << bad;
  }
}

TEST(KeySlotNumbersTest, ScryptParametersOutOfRangeAreCorruption) {
  const Bytes master(kMasterSize, 3);
  auto slot = WrapKeySlot("admin", "admin", testing::Passphrase("p"), kTestScrypt,
                          Bytes(kRepoIdSize, 1), master, SecretBytes(Bytes(32, 2)));
  ASSERT_TRUE(slot.ok());
  const std::string good(AsString(*slot));
  ASSERT_TRUE(ParseKeySlot(AsBytes(good)).ok());
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"\"n\": 1024", "\"n\": 1e+300"},
                                                        {"\"r\": 8", "\"r\": 4294967304"},
                                                        {"\"p\": 1", "\"p\": -1"}}) {
    const std::string bad = Replace(good, from, to);
    EXPECT_EQ(ParseKeySlot(AsBytes(bad)).status().code(), Code::kCorruption) << bad;
  }
}

// Well-formed parameters that ask for more than any slot weightfs writes (2 GiB of memory with n
// 2^24 and r 8, 128 GiB with r 64, 128x the default work) are damage, refused when the slot is
// opened before anything is allocated (the test would run out of memory otherwise).
TEST(KeySlotNumbersTest, CostlyScryptParametersAreRefusedBeforeUse) {
  const Bytes master(kMasterSize, 3);
  const Bytes repo_id(kRepoIdSize, 1);
  auto slot = WrapKeySlot("admin", "admin", testing::Passphrase("p"), kTestScrypt, repo_id, master,
                          SecretBytes(Bytes(32, 2)));
  ASSERT_TRUE(slot.ok());
  const std::string good(AsString(*slot));
  ASSERT_TRUE(UnwrapKeySlot(AsBytes(good), testing::Passphrase("p"), repo_id).ok());
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"\"n\": 1024", "\"n\": 16777216"},
                                                        {"\"r\": 8", "\"r\": 64"},
                                                        {"\"p\": 1", "\"p\": 64"}}) {
    std::string bad = Replace(good, from, to);
    if (to == "\"r\": 64") bad = Replace(bad, "\"n\": 1024", "\"n\": 16777216");
    if (to == "\"p\": 64") bad = Replace(bad, "\"n\": 1024", "\"n\": 2097152");
    auto opened = UnwrapKeySlot(AsBytes(bad), testing::Passphrase("p"), repo_id);
    EXPECT_EQ(opened.status().code(), Code::kCorruption) << bad;
    EXPECT_NE(opened.status().message().find("scrypt"), std::string::npos)
        << opened.status().ToString();
  }
}

}  // namespace
}  // namespace weightfs::repo
