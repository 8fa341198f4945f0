// ObjectCipher: layout, round trips, frame-wise opening and the tamper suite (every kind of
// damage to a sealed object must be refused with kCorruption).
#include "weightfs/crypto/object_cipher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "weightfs/crypto/primitives.h"

namespace weightfs::crypto {
namespace {

constexpr uint8_t kType = 3;
constexpr uint64_t kBigSize = 3 * kFrameSize + 5;  // three full frames and a 5-byte one

uint32_t TestSeed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("WEIGHTFS_TEST_SEED");
    uint32_t s = env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20240601;
    std::printf("object_cipher_test: seed %u (set WEIGHTFS_TEST_SEED to change)\n", s);
    return s;
  }();
  return seed;
}

Bytes RandomPlaintext(size_t n, uint32_t salt = 0) {
  std::mt19937 rng(TestSeed() ^ salt);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

ObjectId Id(uint8_t fill) {
  Bytes b(ObjectId::kSize, fill);
  b[0] = 0x3f;
  return *ObjectId::FromBytes(b);
}

ObjectCipher MakeCipher(uint8_t repo_fill = 0x11, uint8_t key_fill = 0x42, uint32_t key_id = 1) {
  std::map<uint32_t, SecretBytes> keys;
  keys.emplace(key_id, SecretBytes(Bytes(kAesKeySize, key_fill)));
  return {Bytes(16, repo_fill), std::move(keys), key_id};
}

Bytes::iterator At(Bytes& b, uint64_t offset) {
  return b.begin() + static_cast<std::ptrdiff_t>(offset);
}

class ObjectCipherTest : public testing::Test {
 protected:
  void ExpectCorruption(ByteView sealed, const std::string& what) {
    Result<Bytes> r = cipher_.Open(kType, id_, sealed);
    ASSERT_FALSE(r.ok()) << what << " was accepted";
    EXPECT_EQ(r.status().code(), Code::kCorruption) << what << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(id_.Hex()), std::string::npos)
        << what << ": message does not name the object: " << r.status().ToString();
  }

  ObjectCipher cipher_ = MakeCipher();
  ObjectId id_ = Id(0xa2);
};

TEST_F(ObjectCipherTest, RoundTripsEverySizeClass) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{kFrameSize - 1}, uint64_t{kFrameSize},
                        uint64_t{kFrameSize + 1}, kBigSize}) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes pt = RandomPlaintext(size);
    Result<Bytes> sealed = cipher_.Seal(kType, id_, pt);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(sealed->size(), ObjectCipher::SealedSize(size));
    EXPECT_EQ(*ObjectCipher::PlaintextSize(sealed->size()), size);
    Result<Bytes> opened = cipher_.Open(kType, id_, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_TRUE(*opened == pt);
  }
}

TEST_F(ObjectCipherTest, SizesAndFrameCounts) {
  EXPECT_EQ(ObjectCipher::FrameCount(0), 1u);
  EXPECT_EQ(ObjectCipher::FrameCount(1), 1u);
  EXPECT_EQ(ObjectCipher::FrameCount(kFrameSize), 1u);
  EXPECT_EQ(ObjectCipher::FrameCount(kFrameSize + 1), 2u);
  EXPECT_EQ(ObjectCipher::SealedSize(0), 32u);
  EXPECT_EQ(ObjectCipher::SealedSize(kBigSize), kBigSize + 16 + 4 * kGcmTagSize);
  EXPECT_EQ(ObjectCipher::FrameOffset(2), 16 + 2 * kSealedFrameSize);
  // Sizes no object seals to: too short, a partial tag, an empty frame after a full one.
  for (uint64_t bad : {uint64_t{0}, uint64_t{31}, uint64_t{16 + kSealedFrameSize + 5},
                       uint64_t{16 + kSealedFrameSize + 16}}) {
    EXPECT_EQ(ObjectCipher::PlaintextSize(bad).status().code(), Code::kCorruption) << bad;
  }
}

TEST_F(ObjectCipherTest, HeaderLayout) {
  Bytes sealed = *MakeCipher(0x11, 0x42, 0x04030201).Seal(kType, id_, AsBytes("x"));
  Bytes expected = {'W', 'F', 'O', 'B', 1, kType, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0};
  EXPECT_EQ(Bytes(sealed.begin(), sealed.begin() + 16), expected);
}

TEST_F(ObjectCipherTest, IsDeterministic) {
  Bytes pt = RandomPlaintext(kFrameSize + 7);
  EXPECT_EQ(*cipher_.Seal(kType, id_, pt), *cipher_.Seal(kType, id_, pt));
  EXPECT_EQ(*cipher_.Seal(kType, id_, pt), *MakeCipher().Seal(kType, id_, pt));
  EXPECT_NE(*cipher_.Seal(kType, id_, pt), *cipher_.Seal(kType, Id(0xa3), pt));
}

TEST_F(ObjectCipherTest, OpensFramesAlone) {
  Bytes pt = RandomPlaintext(kBigSize);
  Bytes sealed = *cipher_.Seal(kType, id_, pt);
  ByteView header = ByteView(sealed).first(kObjectHeaderSize);
  auto frames = [&](uint64_t first, uint64_t end) {
    uint64_t from = ObjectCipher::FrameOffset(first);
    uint64_t to = std::min<uint64_t>(ObjectCipher::FrameOffset(end), sealed.size());
    return ByteView(sealed).subspan(from, to - from);
  };
  auto plain = [&](uint64_t first, uint64_t end) {
    return Bytes(At(pt, first * kFrameSize),
                 At(pt, std::min<uint64_t>(end * kFrameSize, pt.size())));
  };

  Bytes out = ToBytes("prefix");  // OpenFrames appends.
  ASSERT_TRUE(cipher_.OpenFrames(kType, id_, header, sealed.size(), 1, frames(1, 2), &out).ok());
  Bytes expected = ToBytes("prefix");
  PutBytes(&expected, plain(1, 2));
  EXPECT_TRUE(out == expected);

  out.clear();
  Status s = cipher_.OpenFrames(kType, id_, header, sealed.size(), 3, frames(3, 4), &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out.size(), 5u);
  EXPECT_TRUE(out == plain(3, 4));

  out.clear();
  ASSERT_TRUE(cipher_.OpenFrames(kType, id_, header, sealed.size(), 1, frames(1, 4), &out).ok());
  EXPECT_TRUE(out == plain(1, 4));
}

TEST_F(ObjectCipherTest, OpenFramesRefusesBadRanges) {
  Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(kBigSize));
  ByteView all(sealed);
  ByteView header = all.first(kObjectHeaderSize);
  ByteView frame1 = all.subspan(ObjectCipher::FrameOffset(1), kSealedFrameSize);
  Bytes out;
  auto code = [&](uint64_t sealed_size, uint64_t first, ByteView frames) {
    return cipher_.OpenFrames(kType, id_, header, sealed_size, first, frames, &out).code();
  };
  EXPECT_EQ(code(sealed.size(), 4, frame1), Code::kCorruption);             // past the end
  EXPECT_EQ(code(sealed.size(), 1, frame1.first(100)), Code::kCorruption);  // short frame
  EXPECT_EQ(code(sealed.size(), 2, all.subspan(ObjectCipher::FrameOffset(2), 2 * kSealedFrameSize)),
            Code::kCorruption);  // frame 3 is short, so this is more than frames 2..3
  EXPECT_EQ(code(ObjectCipher::FrameOffset(3) + 5, 1, frame1), Code::kCorruption);  // no such size
  EXPECT_EQ(code(sealed.size(), 0, frame1), Code::kCorruption);  // frame 1 posing as 0
  EXPECT_EQ(code(sealed.size(), 1, {}), Code::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  // The frame is right but the object claims to end after it: the last-frame flag differs.
  EXPECT_EQ(code(ObjectCipher::FrameOffset(2), 1, frame1), Code::kCorruption);
}

TEST_F(ObjectCipherTest, EveryBitFlipInASmallObjectIsRefused) {
  Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(100));
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    Result<Bytes> r = cipher_.Open(kType, id_, bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit << " flipped was accepted";
    // A version byte turned above 1 reads as a newer format; any other damage is corruption.
    bool newer_version = bit / 8 == 4 && bad[4] > 1;
    EXPECT_EQ(r.status().code(), newer_version ? Code::kUnsupported : Code::kCorruption)
        << "bit " << bit << ": " << r.status().ToString();
  }
}

TEST_F(ObjectCipherTest, BitFlipsInEachFrameAreRefused) {
  Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(kBigSize));
  for (uint64_t frame = 0; frame < 4; ++frame) {
    uint64_t begin = ObjectCipher::FrameOffset(frame);
    uint64_t end = std::min<uint64_t>(begin + kSealedFrameSize, sealed.size());
    uint64_t tag = end - kGcmTagSize;
    std::vector<uint64_t> offsets = {begin, begin + (tag - begin) / 2, tag - 1};
    for (uint64_t t = tag; t < end; ++t) offsets.push_back(t);
    for (uint64_t off : offsets) {
      Bytes bad = sealed;
      bad[off] ^= static_cast<uint8_t>(1 << (off % 8));
      Result<Bytes> r = cipher_.Open(kType, id_, bad);
      ASSERT_FALSE(r.ok()) << "frame " << frame << " offset " << off;
      EXPECT_EQ(r.status().code(), Code::kCorruption);
      EXPECT_EQ(r.status().message(), "object " + id_.Hex() + ": frame " + std::to_string(frame) +
                                          " failed authentication");
    }
  }
}

TEST_F(ObjectCipherTest, TruncationIsRefused) {
  for (uint64_t size : {uint64_t{0}, uint64_t{2 * kFrameSize}, kBigSize}) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(size));
    ExpectCorruption(ByteView(sealed).first(sealed.size() - 1), "truncated by one byte");
    ExpectCorruption(ByteView(sealed).first(kObjectHeaderSize), "header alone");
    Bytes longer = sealed;
    longer.push_back(0);
    ExpectCorruption(longer, "extended by one byte");
    if (size > kFrameSize) {
      uint64_t frames = ObjectCipher::FrameCount(size);
      ExpectCorruption(ByteView(sealed).first(ObjectCipher::FrameOffset(frames - 1)),
                       "truncated by its last frame");
    }
  }
  // Refused before a header can be read.
  EXPECT_EQ(cipher_.Open(kType, id_, Bytes(10, 0)).status().code(), Code::kCorruption);
}

TEST_F(ObjectCipherTest, ReorderedFramesAreRefused) {
  Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(kBigSize));
  Bytes swapped = sealed;
  std::swap_ranges(At(swapped, ObjectCipher::FrameOffset(0)),
                   At(swapped, ObjectCipher::FrameOffset(1)),
                   At(swapped, ObjectCipher::FrameOffset(1)));
  ExpectCorruption(swapped, "frames 0 and 1 swapped");
  // A frame moved in from another object with the same key fails too.
  Bytes other = *cipher_.Seal(kType, Id(0x77), RandomPlaintext(kBigSize, 1));
  Bytes spliced = sealed;
  std::copy(At(other, ObjectCipher::FrameOffset(1)), At(other, ObjectCipher::FrameOffset(2)),
            At(spliced, ObjectCipher::FrameOffset(1)));
  ExpectCorruption(spliced, "frame spliced from another object");
}

TEST_F(ObjectCipherTest, WrongContextIsRefused) {
  Bytes sealed = *cipher_.Seal(kType, id_, RandomPlaintext(kFrameSize + 1));
  EXPECT_EQ(cipher_.Open(kType, Id(0xa3), sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(cipher_.Open(kType + 1, id_, sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(MakeCipher(0x12).Open(kType, id_, sealed).status().code(), Code::kCorruption);
  Result<Bytes> wrong_key = MakeCipher(0x11, 0x43).Open(kType, id_, sealed);
  EXPECT_EQ(wrong_key.status().code(), Code::kCorruption);
  EXPECT_EQ(wrong_key.status().message(),
            "object " + id_.Hex() + ": frame 0 failed authentication");
  Result<Bytes> unknown_key = MakeCipher(0x11, 0x42, 2).Open(kType, id_, sealed);
  EXPECT_EQ(unknown_key.status().code(), Code::kCorruption);
  EXPECT_NE(unknown_key.status().message().find("unknown key id 1"), std::string::npos);
}

TEST_F(ObjectCipherTest, HeaderChecks) {
  Bytes sealed = *cipher_.Seal(kType, id_, AsBytes("hello"));
  auto with = [&](size_t offset, uint8_t value) {
    Bytes b = sealed;
    b[offset] = value;
    return b;
  };
  Result<Bytes> newer = cipher_.Open(kType, id_, with(4, 2));
  EXPECT_EQ(newer.status().code(), Code::kUnsupported);
  EXPECT_EQ(newer.status().message(),
            "object " + id_.Hex() + ": object format v2 is newer than this build");
  ExpectCorruption(with(4, 0), "version 0");
  ExpectCorruption(with(0, 'X'), "bad magic");
  ExpectCorruption(with(6, 1), "reserved u16");
  ExpectCorruption(with(15, 1), "reserved u32");
  ExpectCorruption(with(8, 9), "unknown key id");
}

TEST_F(ObjectCipherTest, OldKeysStillOpenAfterRotation) {
  Bytes pt = RandomPlaintext(1000);
  Bytes old_sealed = *cipher_.Seal(kType, id_, pt);
  std::map<uint32_t, SecretBytes> keys;
  keys.emplace(1, SecretBytes(Bytes(kAesKeySize, 0x42)));
  keys.emplace(2, SecretBytes(Bytes(kAesKeySize, 0x99)));
  ObjectCipher rotated(Bytes(16, 0x11), std::move(keys), 2);
  EXPECT_EQ(*rotated.Open(kType, id_, old_sealed), pt);
  Bytes new_sealed = *rotated.Seal(kType, id_, pt);
  EXPECT_EQ(new_sealed[8], 2);
  EXPECT_EQ(*rotated.Open(kType, id_, new_sealed), pt);
  EXPECT_EQ(cipher_.Open(kType, id_, new_sealed).status().code(), Code::kCorruption);
}

// Not a pass/fail timing: prints throughput. Run with --gtest_also_run_disabled_tests.
TEST_F(ObjectCipherTest, DISABLED_PrintThroughput) {
  using Clock = std::chrono::steady_clock;
  constexpr size_t kSize = size_t{4} << 20;
  constexpr int kRounds = 50;
  Bytes pt = RandomPlaintext(kSize);
  Bytes sealed;
  auto t0 = Clock::now();
  for (int i = 0; i < kRounds; ++i) sealed = *cipher_.Seal(kType, id_, pt);
  auto t1 = Clock::now();
  Bytes opened;
  for (int i = 0; i < kRounds; ++i) opened = *cipher_.Open(kType, id_, sealed);
  auto t2 = Clock::now();
  ASSERT_EQ(opened, pt);
  Bytes out;
  constexpr int kFrameRounds = 20000;
  ByteView header = ByteView(sealed).first(kObjectHeaderSize);
  ByteView frame = ByteView(sealed).subspan(ObjectCipher::FrameOffset(7), kSealedFrameSize);
  for (int i = 0; i < kFrameRounds; ++i) {
    out.clear();
    ASSERT_TRUE(cipher_.OpenFrames(kType, id_, header, sealed.size(), 7, frame, &out).ok());
  }
  auto t3 = Clock::now();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  double mib = double(kSize) * kRounds / (1 << 20);
  std::printf(
      "ObjectCipher 4 MiB: Seal %.0f MiB/s, Open %.0f MiB/s; one 64 KiB frame via "
      "OpenFrames: %.1f us (%.0f MiB/s)\n",
      mib / secs(t1 - t0), mib / secs(t2 - t1), secs(t3 - t2) / kFrameRounds * 1e6,
      double(kFrameSize) * kFrameRounds / (1 << 20) / secs(t3 - t2));
}

}  // namespace
}  // namespace weightfs::crypto
