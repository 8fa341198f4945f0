// FastCDC-style content-defined chunking with forced cut points. See chunker.h.
//
// Cut rule for the chunk starting at stream offset S (hash reset to 0 at S):
//   limit = min(max_size, next forced cut after S - S)
//   for i in [min_size, limit): h = (h << 1) + gear[byte[S + i]]
//       cut after byte i if (h & (i < avg_size ? mask_small : mask_large)) == 0
//   otherwise cut at limit (or at the end of the stream).
// The masks test the top bits of h: with one shift per byte, bit k of h depends on the last k+1
// bytes only, so the top bits see a 64-byte window. Because the hash restarts at every chunk
// start, the chunks after a forced cut depend only on the bytes after it.
#include "weightfs/repo/chunker.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "weightfs/repo/safetensors.h"

namespace weightfs::repo {
namespace {

constexpr uint64_t kMinAllowedMin = uint64_t{64} << 10;
constexpr uint64_t kMaxAllowedMax = uint64_t{64} << 20;

// The SplitMix64 finalizer: a bijection on 64-bit words with full avalanche.
uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna).
class Xoshiro256 {
 public:
  explicit Xoshiro256(const uint64_t (&s)[4]) { std::memcpy(s_, s, sizeof(s_)); }
  uint64_t Next() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }

 private:
  uint64_t s_[4];
};

// A mask of the top `bits` bits (see the file comment for why the top ones).
uint64_t TopBitsMask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }

// The hot loop. Hashes p[0..n) into *hash until (h & mask) == 0 and returns the number of bytes
// up to and including that one, or 0 with *hash advanced over all n bytes. Unrolled so that the
// loop bound is tested once per 8 bytes.
inline size_t ScanForCut(const uint8_t* p, size_t n, const uint64_t* gear, uint64_t mask,
                         uint64_t* hash) {
  size_t i = 0;
  uint64_t h = *hash;
#define WFS_GEAR_STEP(k)           \
  h = (h << 1) + gear[p[i + (k)]]; \
  if ((h & mask) == 0) return i + (k) + 1;
  for (; i + 8 <= n; i += 8) {
    WFS_GEAR_STEP(0)
    WFS_GEAR_STEP(1)
    WFS_GEAR_STEP(2)
    WFS_GEAR_STEP(3)
    WFS_GEAR_STEP(4)
    WFS_GEAR_STEP(5)
    WFS_GEAR_STEP(6)
    WFS_GEAR_STEP(7)
  }
  for (; i < n; ++i) {
    WFS_GEAR_STEP(0)
  }
#undef WFS_GEAR_STEP
  *hash = h;
  return 0;
}

}  // namespace

Status ValidateChunkerParams(const ChunkerParams& p) {
  const std::string sizes = "chunk sizes min " + std::to_string(p.min_size) + " / avg " +
                            std::to_string(p.avg_size) + " / max " + std::to_string(p.max_size);
  if (p.min_size > p.avg_size || p.avg_size > p.max_size) {
    return InvalidArgument(sizes + ": need min <= avg <= max");
  }
  if (!std::has_single_bit(p.avg_size)) {
    return InvalidArgument(sizes + ": avg must be a power of two");
  }
  if (p.min_size < kMinAllowedMin) return InvalidArgument(sizes + ": min must be >= 64 KiB");
  if (p.max_size > kMaxAllowedMax) return InvalidArgument(sizes + ": max must be <= 64 MiB");
  return Status::Ok();
}

// The seed is already a secret uniformly random key (HKDF output), so it needs no hashing to
// be unpredictable, only expansion: it is absorbed into a 256-bit xoshiro256** state (a 32-byte
// seed fills the four lanes through bijections, keeping all its entropy), the lanes are mixed
// into each other, and the generator's output is the table. OpenSSL is not used because the
// repo layer must not depend on it directly. The table decides every cut point, so this
// function is part of the repository format (pinned by a known-answer test): changing it would
// not break old repositories but would stop new chunks deduplicating against old ones.
GearTable MakeGearTable(ByteView seed) {
  // Nothing-up-my-sleeve initial lanes: hex digits of pi.
  uint64_t s[4] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL,
                   0x082efa98ec4e6c89ULL};
  s[3] ^= seed.size();
  for (size_t i = 0; i < seed.size(); i += 8) {
    uint64_t word = 0;
    const size_t n = std::min<size_t>(8, seed.size() - i);
    for (size_t k = 0; k < n; ++k) word |= uint64_t{seed[i + k]} << (8 * k);
    uint64_t& lane = s[(i / 8) % 4];
    lane = Mix64(lane ^ word);
  }
  // Each step is invertible given the other lanes (Feistel-like), so the state stays a
  // bijection of the absorbed lanes while every lane comes to depend on every seed byte.
  for (int round = 0; round < 4; ++round) {
    for (int l = 0; l < 4; ++l) s[l] = Mix64(s[l] ^ std::rotl(s[(l + 3) % 4], 23));
  }
  if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;  // xoshiro's one forbidden state
  Xoshiro256 rng(s);
  for (int i = 0; i < 16; ++i) rng.Next();
  GearTable table;
  for (uint64_t& v : table) v = rng.Next();
  return table;
}

CutFinder::CutFinder(const ChunkerParams& params, const GearTable& gear)
    : params_(params), gear_(gear) {
  WFS_CHECK(params_.min_size <= params_.avg_size && params_.avg_size <= params_.max_size);
  WFS_CHECK(std::has_single_bit(params_.avg_size) && params_.avg_size >= 64);
  const int bits = std::countr_zero(params_.avg_size);
  mask_small_ = TopBitsMask(bits + 2);
  mask_large_ = TopBitsMask(bits - 2);
}

void CutFinder::AddForcedCut(uint64_t offset) {
  if (offset > pos_) forced_.insert(offset);
}

void CutFinder::Restart(uint64_t offset) {
  start_ = pos_ = offset;
  hash_ = 0;
  forced_.erase(forced_.begin(), forced_.upper_bound(offset));
}

size_t CutFinder::Limit() const {
  size_t limit = params_.max_size;
  if (!forced_.empty() && *forced_.begin() - start_ < limit) {
    limit = static_cast<size_t>(*forced_.begin() - start_);
  }
  return limit;
}

size_t CutFinder::Scan(ByteView data, bool* cut) {
  *cut = false;
  const auto len = static_cast<size_t>(pos_ - start_);  // chunk offset of data[0]
  const size_t n = std::min(data.size(), Limit() - len);
  // Only the bytes at chunk offsets >= min_size are hashed; the mask is stricter before
  // avg_size (normalized chunking).
  size_t i = len < params_.min_size ? std::min(n, params_.min_size - len) : 0;
  uint64_t h = hash_;
  size_t found = 0;
  if (i < n && len + i < params_.avg_size) {
    const size_t e = std::min(n, params_.avg_size - len);
    if (size_t r = ScanForCut(data.data() + i, e - i, gear_.data(), mask_small_, &h)) {
      found = i + r;
    } else {
      i = e;
    }
  }
  if (found == 0 && i < n) {
    if (size_t r = ScanForCut(data.data() + i, n - i, gear_.data(), mask_large_, &h)) found = i + r;
  }
  if (found == 0 && len + n < Limit()) {
    pos_ += n;
    hash_ = h;
    return n;
  }
  // A content cut, or max_size / a forced cut reached.
  const size_t used = found != 0 ? found : n;
  *cut = true;
  Restart(start_ + len + used);
  return used;
}

Chunker::Chunker(const ChunkerParams& params, const GearTable& gear, bool detect_safetensors,
                 EmitFn emit)
    : finder_(params, gear), detecting_(detect_safetensors), emit_(std::move(emit)) {}

void Chunker::AddForcedCut(uint64_t offset) {
  if (offset <= finder_.chunk_start()) return;
  if (offset > finder_.position()) {
    finder_.AddForcedCut(offset);
    return;
  }
  // A cut inside bytes already scanned (and held in buf_, since no cut was found in them):
  // the pending chunk ends there and what follows is scanned again as the next chunk.
  if (!error_.ok()) return;
  const auto head = static_cast<size_t>(offset - finder_.chunk_start());
  Bytes rest(buf_.begin() + head, buf_.end());
  buf_.resize(head);
  if (Status s = Emit(buf_); !s.ok()) return;
  buf_.clear();
  finder_.Restart(offset);
  error_ = Feed(rest);
}

Status Chunker::Emit(ByteView chunk) {
  Status s = emit_(chunk);
  if (!s.ok()) error_ = s;
  return s;
}

Status Chunker::Feed(ByteView data) {
  while (!data.empty()) {
    bool cut = false;
    const size_t n = finder_.Scan(data, &cut);
    if (!cut) {
      buf_.insert(buf_.end(), data.begin(), data.end());
      return Status::Ok();
    }
    if (buf_.empty()) {
      RETURN_IF_ERROR(Emit(data.first(n)));  // in place: no copy
    } else {
      buf_.insert(buf_.end(), data.begin(), data.begin() + n);
      RETURN_IF_ERROR(Emit(buf_));
      buf_.clear();
    }
    data = data.subspan(n);
  }
  return Status::Ok();
}

Status Chunker::Write(ByteView data) {
  if (!error_.ok()) return error_;
  total_ += data.size();
  if (!detecting_) return Feed(data);
  // Nothing is scanned until the safetensors header is decided (its cuts come first).
  buf_.insert(buf_.end(), data.begin(), data.end());
  SafetensorsCutProbe probe = ProbeSafetensorsCuts(buf_, /*at_end=*/false);
  if (!probe.decided) return Status::Ok();
  detecting_ = false;
  for (uint64_t cut : probe.cuts) finder_.AddForcedCut(cut);
  Bytes held = std::move(buf_);
  buf_.clear();
  return Feed(held);
}

Status Chunker::Finish() {
  if (!error_.ok()) return error_;
  if (detecting_) {
    detecting_ = false;
    SafetensorsCutProbe probe = ProbeSafetensorsCuts(buf_, /*at_end=*/true);
    for (uint64_t cut : probe.cuts) finder_.AddForcedCut(cut);
    Bytes held = std::move(buf_);
    buf_.clear();
    RETURN_IF_ERROR(Feed(held));
  }
  if (!buf_.empty()) {
    RETURN_IF_ERROR(Emit(buf_));
    finder_.Restart(finder_.position());
    buf_.clear();
  }
  return Status::Ok();
}

}  // namespace weightfs::repo
