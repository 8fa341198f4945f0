// Known-answer tests from the standards for every primitive, plus the edge cases of the API.
#include "weightfs/crypto/primitives.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace weightfs::crypto {
namespace {

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = FromHex(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

std::string HexOf(const Result<Bytes>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? ToHex(*r) : "";
}

std::string HexOf(const Result<SecretBytes>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? ToHex(r->view()) : "";
}

// FIPS 180-2 appendix B.1 and the empty message.
TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(HexOf(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf(Sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// RFC 4231 test case 2, fed as several parts (including an empty one) and as one.
TEST(HmacSha256Test, Rfc4231Case2) {
  const std::string expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  EXPECT_EQ(HexOf(HmacSha256(AsBytes("Jefe"), {AsBytes("what do ya want for nothing?")})),
            expected);
  EXPECT_EQ(
      HexOf(HmacSha256(AsBytes("Jefe"),
                       {AsBytes("what do ya "), {}, AsBytes("want for "), AsBytes("nothing?")})),
      expected);
}

TEST(HmacSha256Test, EmptyKeyAndNoParts) {
  // HMAC-SHA-256 with an empty key over an empty message (a widely published value).
  EXPECT_EQ(HexOf(HmacSha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// RFC 5869 test case 1 (basic) and 3 (empty salt and info).
TEST(HkdfTest, Rfc5869Case1) {
  Bytes ikm(22, 0x0b);
  EXPECT_EQ(HexOf(Hkdf(ikm, Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"), 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfTest, Rfc5869Case3EmptySaltAndInfo) {
  Bytes ikm(22, 0x0b);
  EXPECT_EQ(HexOf(Hkdf(ikm, {}, {}, 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

Bytes Sequence(uint8_t first, size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(first + i);
  return b;
}

TEST(HkdfTest, Rfc5869Case2LongInputs) {
  EXPECT_EQ(HexOf(Hkdf(Sequence(0x00, 80), Sequence(0x60, 80), Sequence(0xb0, 80), 82)),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

// Nothing from one call (salt, info, key) may carry over to the next, on any thread.
TEST(HkdfTest, NoStateCarriesOverBetweenCalls) {
  const std::string case3 =
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
  Bytes ikm(22, 0x0b);
  ASSERT_TRUE(Hkdf(AsBytes("other key"), AsBytes("a salt"), AsBytes("some info"), 42).ok());
  EXPECT_EQ(HexOf(Hkdf(ikm, {}, {}, 42)), case3);
  ASSERT_TRUE(Hkdf({}, AsBytes("a salt"), AsBytes("some info"), 42).ok());
  EXPECT_EQ(HexOf(Hkdf(ikm, {}, {}, 42)), case3);
  std::string from_thread;
  std::thread([&] { from_thread = HexOf(Hkdf(ikm, {}, {}, 42)); }).join();
  EXPECT_EQ(from_thread, case3);
  // An empty input key is a valid (if useless) input and differs from a one-byte zero key.
  EXPECT_NE(HexOf(Hkdf({}, {}, {}, 32)), HexOf(Hkdf(Bytes(1, 0), {}, {}, 32)));
}

TEST(HkdfTest, RefusesImpossibleLengths) {
  EXPECT_EQ(Hkdf(AsBytes("k"), {}, {}, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Hkdf(AsBytes("k"), {}, {}, 255 * 32 + 1).status().code(), Code::kInvalidArgument);
}

// RFC 7914 section 12.
TEST(ScryptTest, Rfc7914EmptyPassphraseAndSalt) {
  EXPECT_EQ(HexOf(Scrypt({}, {}, ScryptParams{.n = 16, .r = 1, .p = 1}, 64)),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
}

TEST(ScryptTest, Rfc7914PasswordNaCl) {
  EXPECT_EQ(HexOf(Scrypt(AsBytes("password"), AsBytes("NaCl"),
                         ScryptParams{.n = 1024, .r = 8, .p = 16}, 64)),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

// The largest RFC 7914 vector (16 MiB of scrypt memory).
TEST(ScryptTest, Rfc7914PleaseLetMeIn) {
  EXPECT_EQ(HexOf(Scrypt(AsBytes("pleaseletmein"), AsBytes("SodiumChloride"),
                         ScryptParams{.n = 16384, .r = 8, .p = 1}, 64)),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

// The default cost (N=2^17, r=8) needs 128 MiB, four times OpenSSL's default maxmem.
TEST(ScryptTest, DefaultParametersRun) {
  Result<SecretBytes> key = Scrypt(AsBytes("passphrase"), AsBytes("salt"), ScryptParams{}, 32);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 32u);
}

TEST(ScryptTest, RefusesBadParameters) {
  EXPECT_EQ(Scrypt({}, {}, ScryptParams{.n = 1000, .r = 8, .p = 1}, 32).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Scrypt({}, {}, ScryptParams{.n = 16, .r = 0, .p = 1}, 32).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Scrypt({}, {}, ScryptParams{.n = 16, .r = 1, .p = 0}, 32).status().code(),
            Code::kInvalidArgument);
}

// "The Galois/Counter Mode of Operation (GCM)", McGrew and Viega, appendix B, AES-256 cases.
struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

constexpr char kKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const GcmVector kGcmVectors[] = {
    {"TestCase13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TestCase14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TestCase15", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TestCase16", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

class GcmKnownAnswerTest : public testing::TestWithParam<GcmVector> {};

TEST_P(GcmKnownAnswerTest, SealsAndOpens) {
  const GcmVector& v = GetParam();
  Bytes key = Hex(v.key), iv = Hex(v.iv), pt = Hex(v.plaintext), aad = Hex(v.aad);
  std::string sealed_hex = std::string(v.ciphertext) + v.tag;
  EXPECT_EQ(HexOf(AesGcmSeal(key, iv, aad, pt)), sealed_hex);
  EXPECT_EQ(HexOf(AesGcmOpen(key, iv, aad, Hex(sealed_hex))), ToHex(pt));
}

TEST_P(GcmKnownAnswerTest, RefusesAFlippedBitAnywhere) {
  const GcmVector& v = GetParam();
  Bytes key = Hex(v.key), iv = Hex(v.iv), aad = Hex(v.aad);
  Bytes sealed = Hex(std::string(v.ciphertext) + v.tag);
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    Result<Bytes> r = AesGcmOpen(key, iv, aad, bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_EQ(r.status().message(), "authentication failed");
  }
  Bytes bad_aad = aad;
  bad_aad.push_back(0);
  EXPECT_EQ(AesGcmOpen(key, iv, bad_aad, sealed).status().code(), Code::kCorruption);
  Bytes bad_iv = iv;
  bad_iv[11] ^= 1;
  EXPECT_EQ(AesGcmOpen(key, bad_iv, aad, sealed).status().code(), Code::kCorruption);
}

INSTANTIATE_TEST_SUITE_P(McGrewViega, GcmKnownAnswerTest, testing::ValuesIn(kGcmVectors),
                         [](const testing::TestParamInfo<GcmVector>& info) {
                           return std::string(info.param.name);
                         });

TEST(AesGcmTest, FailedOpenLeavesNoPlaintext) {
  Bytes key(32, 7), iv(12, 1);
  Bytes pt(1000, 0x5a);
  Bytes sealed = *AesGcmSeal(key, iv, {}, pt);
  sealed.back() ^= 1;
  Bytes out(pt.size(), 0xee);
  Status s = AesGcmOpenInto(key, iv, {}, sealed, out.data());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(out, Bytes(pt.size(), 0));
}

TEST(AesGcmTest, OpensInPlace) {
  Bytes key(32, 7), iv(12, 1), aad = ToBytes("aad");
  Bytes pt(5000);
  for (size_t i = 0; i < pt.size(); ++i) pt[i] = static_cast<uint8_t>(i * 31);
  Bytes buf = *AesGcmSeal(key, iv, aad, pt);
  ASSERT_TRUE(AesGcmOpenInto(key, iv, aad, buf, buf.data()).ok());
  EXPECT_TRUE(std::equal(pt.begin(), pt.end(), buf.begin()));
}

TEST(AesGcmTest, RefusesBadSizes) {
  Bytes key(32), iv(12);
  EXPECT_EQ(AesGcmSeal(Bytes(16), iv, {}, {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AesGcmSeal(key, Bytes(16), {}, {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AesGcmOpen(key, iv, {}, Bytes(15)).status().code(), Code::kCorruption);
}

// Every thread has its own context; interleaved seals and opens with different keys on many
// threads must all give the single-threaded answer.
TEST(AesGcmTest, ThreadsDoNotShareState) {
  Bytes pt(70000, 3);
  std::vector<Bytes> expected;
  expected.reserve(4);
  for (int t = 0; t < 4; ++t) expected.push_back(*AesGcmSeal(Bytes(32, t), Bytes(12, t), {}, pt));
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Result<Bytes> sealed = AesGcmSeal(Bytes(32, t), Bytes(12, t), {}, pt);
        if (!sealed.ok() || *sealed != expected[t]) ++failures[t];
        Result<Bytes> opened = AesGcmOpen(Bytes(32, t), Bytes(12, t), {}, expected[t]);
        if (!opened.ok() || *opened != pt) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(RandomTest, FillsAndDiffers) {
  Result<Bytes> a = RandomBytes(32), b = RandomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  Result<SecretBytes> s = RandomSecret(32);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 32u);
  EXPECT_NE(ToHex(s->view()), std::string(64, '0'));
  EXPECT_TRUE(RandomBytes(0).ok());
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("ab")));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

}  // namespace
}  // namespace weightfs::crypto
