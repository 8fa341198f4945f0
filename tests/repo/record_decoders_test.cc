// The ref and record decoders of repo/records.h called directly on untrusted bytes: refs/main,
// refs/tags and refs/policy (binary, read once authenticated), lease records (JSON,
// unauthenticated) and lock records (JSON, shown to the user only: never an error). Valid encodings
// round-trip; truncated, oversized, trailing, mutated and random input is rejected with kCorruption
// (or, for what a decoder accepts, round-trips) without crashing or allocating for what is not
// there.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "repo/records.h"
#include "support/alloc_probe.h"
#include "support/decoder_checks.h"
#include "support/random.h"
#include "support/status_util.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"

namespace weightfs::repo {
namespace {

using weightfs::testing::Decoder;
using weightfs::testing::DecoderContract;
using weightfs::testing::LittleEndian;
using weightfs::testing::RoundTripping;

ObjectId Id(uint8_t fill) { return *ObjectId::FromBytes(Bytes(ObjectId::kSize, fill)); }

MainRef Main(std::optional<ObjectId> head, uint64_t head_seq, const ObjectId& live_root) {
  MainRef m;
  m.head = head;
  m.head_seq = head_seq;
  m.live_root = live_root;
  return m;
}

const DecoderContract kDamaged{};

using Tags = std::pair<std::map<std::string, ObjectId>, uint64_t>;
Result<Tags> DecodeTagsPair(ByteView b) {
  uint64_t generation = 0;
  ASSIGN_OR_RETURN(auto tags, DecodeTags(b, &generation));
  return Tags{std::move(tags), generation};
}
Bytes EncodeTagsPair(const Tags& t) { return EncodeTags(t.first, t.second); }

Result<LeaseInfo> DecodeLease(ByteView b) { return DecodeLeaseRecord("locks/lease-test", b); }

// Tags in encoding 1 (no generation), as older builds wrote them.
Bytes TagsV1() {
  Bytes v1;
  PutU8(&v1, 1);
  PutU32(&v1, 2);
  PutLengthPrefixed(&v1, AsBytes("a"));
  PutBytes(&v1, Id(3).bytes());
  PutLengthPrefixed(&v1, AsBytes("b"));
  PutBytes(&v1, Id(4).bytes());
  return v1;
}

LeaseInfo SampleLease() {
  return LeaseInfo{.name = "locks/lease-test",
                   .kind = LeaseKind::kRead,
                   .host = "host",
                   .pid = 4242,
                   .since = 1700000000,
                   .what = "mount /mnt",
                   .roots = {Id(1), Id(2)}};
}

struct Codec {
  const char* name;
  Decoder decode;
  std::vector<Bytes> valid;
  size_t accepted_from = SIZE_MAX;  // see ExpectTruncationsRejected
};

std::vector<Codec> BinaryCodecs() {
  MainRef head = Main(Id(1), 4, Id(2));
  head.generation = 9;
  return {
      {"refs/main",
       RoundTripping(DecodeMain, EncodeMain),
       {EncodeMain(head), EncodeMain(Main(std::nullopt, 0, Id(2)))}},
      {"refs/tags",
       RoundTripping(DecodeTagsPair, EncodeTagsPair),
       {EncodeTags({{"release", Id(1)}, {"v1.0", Id(2)}}, 3), EncodeTags({}, 0), TagsV1()}},
      {"refs/policy", RoundTripping(DecodePolicyRef, EncodePolicyRef), {EncodePolicyRef(Id(4))}},
  };
}

std::vector<Codec> AllCodecs() {
  std::vector<Codec> all = BinaryCodecs();
  const Bytes lease = EncodeLeaseRecord(SampleLease());
  // JSON ends with a newline, which the parser does not need: the prefix without it decodes.
  all.push_back(
      {"lease", RoundTripping(DecodeLease, EncodeLeaseRecord), {lease}, lease.size() - 1});
  return all;
}

TEST(RecordDecodersTest, ValidEncodingsRoundTrip) {
  for (const Codec& c : AllCodecs()) {
    for (const Bytes& valid : c.valid) {
      EXPECT_TRUE(weightfs::testing::Decodes(c.decode, kDamaged, valid, true)) << c.name;
    }
  }
  WFS_ASSERT_OK_AND_ASSIGN(MainRef m, DecodeMain(BinaryCodecs()[0].valid[0]));
  EXPECT_EQ(m.head, Id(1));
  EXPECT_EQ(m.head_seq, 4u);
  EXPECT_EQ(m.live_root, Id(2));
  EXPECT_EQ(m.generation, 9u);
  uint64_t generation = 1;
  WFS_ASSERT_OK_AND_ASSIGN(auto v1, DecodeTags(TagsV1(), &generation));
  EXPECT_EQ(generation, 0u);
  EXPECT_EQ(v1.at("b"), Id(4));
  WFS_ASSERT_OK_AND_ASSIGN(LeaseInfo lease, DecodeLease(EncodeLeaseRecord(SampleLease())));
  EXPECT_EQ(lease.roots, SampleLease().roots);
  EXPECT_EQ(lease.kind, LeaseKind::kRead);
  EXPECT_EQ(lease.what, "mount /mnt");
}

TEST(RecordDecodersTest, EveryTruncationIsCorruption) {
  for (const Codec& c : AllCodecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid) {
      weightfs::testing::ExpectTruncationsRejected(c.decode, kDamaged, valid, c.accepted_from);
    }
  }
}

TEST(RecordDecodersTest, TrailingBytesAreCorruption) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Codec& c : AllCodecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid) {
      weightfs::testing::ExpectTrailingBytesRejected(c.decode, kDamaged, valid, seed);
    }
  }
}

TEST(RecordDecodersTest, InflatedFieldsAreHandledSafely) {
  for (const Codec& c : AllCodecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid) {
      weightfs::testing::ExpectInflatedFieldsSafe(c.decode, kDamaged, valid);
    }
  }
}

TEST(RecordDecodersTest, RandomAndMutatedInputIsHandledSafely) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Codec& c : AllCodecs()) {
    SCOPED_TRACE(c.name);
    weightfs::testing::ExpectRandomInputsSafe(c.decode, kDamaged, c.valid, seed, 4000);
  }
}

TEST(RecordDecodersTest, UnknownEncodingsAreCorruption) {
  for (const Codec& c : BinaryCodecs()) {
    for (uint8_t version : {0, 3, 0xff}) {
      Bytes b = c.valid[0];
      b[0] = version;
      EXPECT_CODE(c.decode(b), Code::kCorruption) << c.name << " encoding " << int{version};
    }
  }
}

TEST(RecordDecodersTest, HugeTagCountsAndNamesAreCorruptionWithoutAllocating) {
  for (uint32_t n : {3u, 1u << 31, std::numeric_limits<uint32_t>::max()}) {
    Bytes b = EncodeTags({{"release", Id(1)}, {"v1.0", Id(2)}}, 3);
    const Bytes count = LittleEndian(n, 4);
    std::copy(count.begin(), count.end(), b.begin() + 9);  // after encoding and generation
    weightfs::testing::AllocationProbe probe;
    uint64_t generation = 0;
    EXPECT_CODE(DecodeTags(b, &generation), Code::kCorruption) << "count " << n;
    EXPECT_LT(probe.largest(), size_t{1} << 16);
  }
  Bytes long_name = EncodeTags({{"release", Id(1)}}, 3);
  const Bytes length = LittleEndian(std::numeric_limits<uint32_t>::max(), 4);
  std::copy(length.begin(), length.end(), long_name.begin() + 13);
  weightfs::testing::AllocationProbe probe;
  uint64_t generation = 0;
  EXPECT_CODE(DecodeTags(long_name, &generation), Code::kCorruption);
  EXPECT_LT(probe.largest(), size_t{1} << 16);
}

TEST(RecordDecodersTest, RepeatedOrUnsortedTagsAreCorruption) {
  Bytes b;
  PutU8(&b, 2);
  PutU64(&b, 1);
  PutU32(&b, 2);
  for (const char* name : {"b", "a"}) {
    PutLengthPrefixed(&b, AsBytes(name));
    PutBytes(&b, Id(1).bytes());
  }
  uint64_t generation = 0;
  EXPECT_CODE(DecodeTags(b, &generation), Code::kCorruption);
}

TEST(RecordDecodersTest, LeaseRecordsNeedEveryFieldWithItsType) {
  const std::string roots = R"("roots":[")" + Id(1).Hex() + "\"]";
  for (const std::string& bad : std::vector<std::string>{
           "[]",
           "null",
           "{}",
           "\"lease\"",
           R"({"kind":"read","host":"h","pid":1,"since":2})",                  // no roots
           R"({"kind":"read","host":"h","pid":"1","since":2,)" + roots + "}",  // pid a string
           R"({"kind":"read","host":"h","pid":1.5,"since":2,)" + roots + "}",
           R"({"kind":"read","host":"h","pid":99999999999,"since":2,)" + roots + "}",
           R"({"kind":"read","host":"h","pid":1,"since":1e300,)" + roots + "}",
           R"({"kind":"read","host":7,"pid":1,"since":2,)" + roots + "}",
           R"({"kind":"read","host":"h","pid":1,"since":2,"roots":"x"})",
           R"({"kind":"read","host":"h","pid":1,"since":2,"roots":[7]})",
           R"({"kind":"read","host":"h","pid":1,"since":2,"roots":["abc"]})",
       }) {
    EXPECT_CODE(DecodeLease(AsBytes(bad)), Code::kCorruption) << bad;
  }
}

// A lock record is only shown or used to judge whether its holder runs: whatever the bytes, it
// parses without error, keeping defaults for what is missing, out of range or of the wrong type.
TEST(RecordDecodersTest, LockRecordsNeverFail) {
  const std::string valid = R"({"host":"h","mountpoint":"/mnt","pid":4242,"time":1700000000})"
                            "\n";
  const LockRecord r = ParseLockRecord(ToBytes(valid));
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.host, "h");
  EXPECT_EQ(r.pid, 4242);
  EXPECT_EQ(r.time, 1700000000);
  EXPECT_EQ(r.mountpoint, "/mnt");
  EXPECT_FALSE(ParseLockRecord(std::nullopt).parsed);
  for (size_t n = 0; n + 1 < valid.size(); ++n) {
    const LockRecord cut = ParseLockRecord(ToBytes(valid.substr(0, n)));
    EXPECT_FALSE(cut.parsed) << n;
    EXPECT_EQ(cut.pid, 0);
  }
  const LockRecord odd =
      ParseLockRecord(ToBytes(R"({"host":1,"pid":99999999999,"time":1.5,"mountpoint":[]})"));
  EXPECT_TRUE(odd.parsed);
  EXPECT_EQ(odd.host, "");
  EXPECT_EQ(odd.pid, 0);
  EXPECT_EQ(odd.time, 0);
  EXPECT_FALSE(odd.mountpoint.has_value());
  EXPECT_FALSE(ParseLockRecord(ToBytes("[1,2]")).parsed);

  const uint64_t seed = weightfs::testing::TestSeed();
  WFS_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000; ++i) {
    Bytes input = weightfs::testing::RandomBytes(rng, rng() % 200);
    if (i % 2 == 1) {  // a valid record with a few bytes replaced
      input = ToBytes(valid);
      for (int k = 0; k < 3; ++k) input[rng() % input.size()] = static_cast<uint8_t>(rng());
    }
    weightfs::testing::AllocationProbe probe;
    (void)ParseLockRecord(input);
    ASSERT_LT(probe.total(), size_t{1} << 20) << ToHex(input);
  }
}

// refs/main as EncodeMain writes it: has_head is 0 or 1, and without a head its id is zeros.
TEST(RecordDecodersTest, MainRefHeadFlagIsZeroOrOneAndNoHeadMeansZeros) {
  Bytes head = EncodeMain(Main(Id(1), 4, Id(2)));
  head[1] = 2;
  EXPECT_CODE(DecodeMain(head), Code::kCorruption);
  Bytes none = EncodeMain(Main(std::nullopt, 0, Id(2)));
  WFS_ASSERT_OK(DecodeMain(none).status());
  none[2] = 1;  // the first byte of the absent head's id
  EXPECT_CODE(DecodeMain(none), Code::kCorruption);
}

}  // namespace
}  // namespace weightfs::repo
