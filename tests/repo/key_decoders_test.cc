// The key slot format and the repository config (keys.h) called directly on untrusted bytes: both
// are public JSON that must be exactly what weightfs writes. Valid files round-trip; truncated,
// trailing, inflated, mutated and random input is rejected (kCorruption; kUnsupported for a newer
// config format; kWrongKey when a slot merely does not open with the credential) without crashing
// or allocating absurdly; stored KDF parameters and numbers out of range are refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/decoder_checks.h"
#include "support/random.h"
#include "support/status_util.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/repo/keys.h"

namespace weightfs::repo {
namespace {

using weightfs::testing::Decoder;
using weightfs::testing::DecoderContract;

Bytes Filled(size_t n, uint8_t fill) { return Bytes(n, fill); }
Bytes RepoId() { return Filled(kRepoIdSize, 0x11); }
SecretBytes MacKey() { return SecretBytes(Filled(32, 0x22)); }
Bytes Master() { return Filled(kMasterSize, 0x66); }
Credential KeyFile() {
  Credential c;
  c.kind = Credential::Kind::kKeyFile;
  c.secret = SecretBytes(Filled(kKeyFileSecretSize, 0x44));
  return c;
}
Credential Passphrase() {
  Credential c;
  c.kind = Credential::Kind::kPassphrase;
  c.secret = SecretBytes(AsBytes("correct horse"));
  return c;
}

Bytes Config() {
  RepoConfig config;
  config.repo_id = RepoId();
  config.created = "2026-01-01T00:00:00Z";
  return *SerializeConfig(config, MacKey());
}
Bytes KeyFileSlot() {
  return *WrapKeySlot("ci", "reader", KeyFile(), {}, RepoId(), Master(), MacKey());
}
Bytes PassphraseSlot() {
  return *WrapKeySlot("admin", "admin", Passphrase(), kTestScrypt, RepoId(), Master(), MacKey());
}

// text with its only occurrence of from replaced by to (which must be there).
Bytes Replaced(const Bytes& data, const std::string& from, const std::string& to) {
  std::string text(AsString(data));
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return ToBytes(text);
}

const DecoderContract kDamaged{};
const DecoderContract kConfigContract{.rejections = {Code::kCorruption, Code::kUnsupported}};
const DecoderContract kUnwrapContract{.rejections = {Code::kCorruption, Code::kWrongKey}};

Status VerifyConfigStatus(ByteView b) { return VerifyConfig(b, MacKey()); }
Status ParseSlotStatus(ByteView b) { return ParseKeySlot(b).status(); }
Status VerifySlotStatus(ByteView b) { return VerifyKeySlot(b, MacKey()); }
Status UnwrapStatus(ByteView b) { return UnwrapKeySlot(b, KeyFile(), RepoId()).status(); }

// Parsing round-trips: what parses serializes to the same bytes, under the same MAC key.
Status ConfigRoundTrip(ByteView b) {
  ASSIGN_OR_RETURN(RepoConfig c, ParseConfig(b));
  ASSIGN_OR_RETURN(Bytes again, SerializeConfig(c, MacKey()));
  if (VerifyConfig(b, MacKey()).ok() && again != Bytes(b.begin(), b.end())) {
    return Internal("a verified config does not serialize to its own bytes");
  }
  return ParseConfig(again).status();
}

struct Format {
  const char* name;
  Decoder decode;
  DecoderContract contract;
  std::vector<Bytes> valid;
};

std::vector<Format> Formats() {
  const std::vector<Bytes> slots = {KeyFileSlot(), PassphraseSlot()};
  return {{"ParseConfig", ConfigRoundTrip, kConfigContract, {Config()}},
          {"VerifyConfig", VerifyConfigStatus, kDamaged, {Config()}},
          {"ParseKeySlot", ParseSlotStatus, kDamaged, slots},
          {"VerifyKeySlot", VerifySlotStatus, kDamaged, slots},
          {"UnwrapKeySlot", UnwrapStatus, kUnwrapContract, {KeyFileSlot()}}};
}

TEST(KeyDecodersTest, ValidFilesDecodeAndRoundTrip) {
  for (const Format& f : Formats()) {
    for (const Bytes& valid : f.valid) {
      EXPECT_TRUE(weightfs::testing::Decodes(f.decode, f.contract, valid, true)) << f.name;
    }
  }
  WFS_ASSERT_OK_AND_ASSIGN(RepoConfig config, ParseConfig(Config()));
  EXPECT_EQ(config.repo_id, RepoId());
  EXPECT_EQ(config.created, "2026-01-01T00:00:00Z");
  WFS_ASSERT_OK_AND_ASSIGN(KeySlotInfo info, ParseKeySlot(PassphraseSlot()));
  EXPECT_EQ(info.name, "admin");
  EXPECT_EQ(info.kind, "passphrase");
  EXPECT_EQ(info.scrypt.n, kTestScrypt.n);
  WFS_ASSERT_OK_AND_ASSIGN(SecretBytes master, UnwrapKeySlot(KeyFileSlot(), KeyFile(), RepoId()));
  EXPECT_EQ(Bytes(master.view().begin(), master.view().end()), Master());
  WFS_ASSERT_OK_AND_ASSIGN(master, UnwrapKeySlot(PassphraseSlot(), Passphrase(), RepoId()));
  EXPECT_EQ(Bytes(master.view().begin(), master.view().end()), Master());
}

TEST(KeyDecodersTest, EveryTruncationIsCorruption) {
  for (const Format& f : Formats()) {
    SCOPED_TRACE(f.name);
    for (const Bytes& valid : f.valid) {
      weightfs::testing::ExpectTruncationsRejected(f.decode, kDamaged, valid);
    }
  }
}

TEST(KeyDecodersTest, TrailingBytesAreCorruption) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Format& f : Formats()) {
    SCOPED_TRACE(f.name);
    for (const Bytes& valid : f.valid) {
      weightfs::testing::ExpectTrailingBytesRejected(f.decode, kDamaged, valid, seed);
    }
  }
}

TEST(KeyDecodersTest, InflatedBytesAreHandledSafely) {
  for (const Format& f : Formats()) {
    SCOPED_TRACE(f.name);
    for (const Bytes& valid : f.valid) {
      weightfs::testing::ExpectInflatedFieldsSafe(f.decode, f.contract, valid);
    }
  }
}

TEST(KeyDecodersTest, RandomAndMutatedInputIsHandledSafely) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Format& f : Formats()) {
    SCOPED_TRACE(f.name);
    weightfs::testing::ExpectRandomInputsSafe(f.decode, f.contract, f.valid, seed, 1500);
  }
}

TEST(KeyDecodersTest, ConfigNumbersOutOfRangeAreRefused) {
  const Bytes config = Config();
  EXPECT_CODE(ParseConfig(Replaced(config, "\"version\": 1", "\"version\": 3")),
              Code::kUnsupported);
  EXPECT_CODE(ParseConfig(Replaced(config, "\"version\": 1", "\"version\": 0")), Code::kCorruption);
  for (const char* huge : {"18446744073709551615", "4294967296", "-1"}) {
    EXPECT_CODE(
        ParseConfig(Replaced(config, "\"version\": 1", std::string("\"version\": ") + huge)),
        Code::kCorruption)
        << huge;
    EXPECT_CODE(ParseConfig(Replaced(config, "\"frame_size\": 65536",
                                     std::string("\"frame_size\": ") + huge)),
                Code::kCorruption)
        << huge;
  }
  EXPECT_CODE(ParseConfig(Replaced(config, "\"frame_size\": 65536", "\"frame_size\": 65537")),
              Code::kCorruption);
  EXPECT_CODE(ParseConfig(Replaced(config, "\"format\": \"weightfs\"", "\"format\": \"other\"")),
              Code::kCorruption);
  EXPECT_CODE(ParseConfig(Replaced(config, "\"repo_id\": \"", "\"repo_id\": \"00")),
              Code::kCorruption);
}

// A tampered slot asking for absurd scrypt parameters is refused before any memory is spent.
TEST(KeyDecodersTest, AbsurdStoredKdfParametersAreCorruption) {
  const Bytes slot = PassphraseSlot();
  const std::string n = "\"n\": " + std::to_string(kTestScrypt.n);
  const std::string p = "\"p\": " + std::to_string(kTestScrypt.p);
  for (const Bytes& bad : {Replaced(slot, n, "\"n\": 1099511627776"), Replaced(slot, n, "\"n\": 0"),
                           Replaced(slot, n, "\"n\": 1000"), Replaced(slot, p, "\"p\": 4294967295"),
                           Replaced(slot, p, "\"p\": 0")}) {
    EXPECT_CODE(UnwrapKeySlot(bad, Passphrase(), RepoId()), Code::kCorruption) << AsString(bad);
    EXPECT_CODE(VerifyKeySlot(bad, MacKey()), Code::kCorruption) << AsString(bad);
  }
  EXPECT_CODE(ParseKeySlot(Replaced(slot, p, "\"p\": 4294967296")), Code::kCorruption);
  EXPECT_CODE(ParseKeySlot(Replaced(slot, n, "\"n\": -1")), Code::kCorruption);
}

TEST(KeyDecodersTest, SlotsOfTheWrongShapeAreCorruption) {
  const Bytes slot = KeyFileSlot();
  EXPECT_CODE(ParseKeySlot(Replaced(slot, "\"kind\": \"keyfile\"", "\"kind\": \"other\"")),
              Code::kCorruption);
  EXPECT_CODE(ParseKeySlot(ToBytes("[]\n")), Code::kCorruption);
  EXPECT_CODE(ParseKeySlot(ToBytes("{}\n")), Code::kCorruption);
  EXPECT_CODE(ParseKeySlot(ToBytes("null\n")), Code::kCorruption);
  Bytes with_nul = slot;
  with_nul.insert(with_nul.begin() + 10, 0);
  EXPECT_CODE(ParseKeySlot(with_nul), Code::kCorruption);
  // A wrapped key or nonce of the wrong size.
  std::string text(AsString(slot));
  const size_t wrapped = text.find(R"("wrapped": ")");
  ASSERT_NE(wrapped, std::string::npos);
  text.insert(wrapped + 12, "00");
  EXPECT_CODE(UnwrapKeySlot(ToBytes(text), KeyFile(), RepoId()), Code::kCorruption);
}

}  // namespace
}  // namespace weightfs::repo
