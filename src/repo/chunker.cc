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

// The hot loop. Hashes p[*pos..end) until (h & mask) == 0 and returns the cut (the index after
// that byte), or returns 0 with the position and hash advanced to end. Unrolled so that the
// loop bound is tested once per 8 bytes.
inline size_t ScanForCut(const uint8_t* p, const uint64_t* gear, uint64_t mask, size_t end,
                         size_t* pos, uint64_t* hash) {
  size_t i = *pos;
  uint64_t h = *hash;
#define WFS_GEAR_STEP(k)           \
  h = (h << 1) + gear[p[i + (k)]]; \
  if ((h & mask) == 0) return i + (k) + 1;
  for (; i + 8 <= end; i += 8) {
    WFS_GEAR_STEP(0)
    WFS_GEAR_STEP(1)
    WFS_GEAR_STEP(2)
    WFS_GEAR_STEP(3)
    WFS_GEAR_STEP(4)
    WFS_GEAR_STEP(5)
    WFS_GEAR_STEP(6)
    WFS_GEAR_STEP(7)
  }
  for (; i < end; ++i) {
    WFS_GEAR_STEP(0)
  }
#undef WFS_GEAR_STEP
  *pos = i;
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

Chunker::Chunker(const ChunkerParams& params, const GearTable& gear, bool detect_safetensors,
                 EmitFn emit)
    : params_(params),
      gear_(gear),
      detect_safetensors_(detect_safetensors),
      safetensors_done_(!detect_safetensors),
      emit_(std::move(emit)) {
  WFS_CHECK(params_.min_size <= params_.avg_size && params_.avg_size <= params_.max_size);
  WFS_CHECK(std::has_single_bit(params_.avg_size) && params_.avg_size >= 64);
  const int bits = std::countr_zero(params_.avg_size);
  mask_small_ = TopBitsMask(bits + 2);
  mask_large_ = TopBitsMask(bits - 2);
}

void Chunker::AddForcedCut(uint64_t offset) {
  if (offset > buf_start_ + buf_off_) forced_.insert(offset);
}

size_t Chunker::FindCut(bool at_end) {
  const size_t avail = pending();
  if (avail == 0) return 0;
  const uint64_t start = buf_start_ + buf_off_;
  size_t limit = params_.max_size;
  if (auto it = forced_.upper_bound(start); it != forced_.end() && *it - start < limit) {
    limit = static_cast<size_t>(*it - start);
  }
  const bool limit_reached = limit <= avail;
  const size_t end = limit_reached ? limit : avail;

  const uint8_t* p = buf_.data() + buf_off_;
  size_t i = std::max<size_t>(scan_pos_, params_.min_size);
  uint64_t h = hash_;
  size_t cut =
      ScanForCut(p, gear_.data(), mask_small_, std::min<size_t>(end, params_.avg_size), &i, &h);
  if (cut == 0) cut = ScanForCut(p, gear_.data(), mask_large_, end, &i, &h);
  if (cut == 0) {
    if (limit_reached) {
      cut = limit;  // max_size or a forced cut (possibly one added behind scan_pos_)
    } else if (at_end) {
      cut = avail;
    } else {
      scan_pos_ = i;
      hash_ = h;
      return 0;
    }
  }
  scan_pos_ = 0;
  hash_ = 0;
  return cut;
}

void Chunker::MaybeParseSafetensors() {
  // Runs before anything is emitted, so buf_[0] is stream offset 0.
  if (safetensors_header_end_ == 0) {
    if (buf_.size() < kSafetensorsProbeSize) return;
    std::optional<uint64_t> end = SafetensorsHeaderEnd(ByteView(buf_.data(), buf_.size()));
    if (!end) {
      safetensors_done_ = true;
      return;
    }
    safetensors_header_end_ = *end;
  }
  if (buf_.size() < safetensors_header_end_) return;
  safetensors_done_ = true;
  Result<SafetensorsHeader> header =
      ParseSafetensorsHeader(ByteView(buf_.data(), safetensors_header_end_));
  // A file that only looks like safetensors is chunked by content alone.
  if (!header.ok()) return;
  AddForcedCut(header->header_end);
  for (const TensorInfo& t : header->tensors) {
    AddForcedCut(t.begin);
    AddForcedCut(t.end);
  }
}

Status Chunker::EmitReady(bool at_end) {
  if (!safetensors_done_) {
    MaybeParseSafetensors();
    if (!safetensors_done_) {
      if (!at_end) return Status::Ok();  // still waiting for the whole header
      safetensors_done_ = true;          // the stream ended inside the header: not safetensors
    }
  }
  while (size_t n = FindCut(at_end)) {
    ByteView chunk(buf_.data() + buf_off_, n);
    buf_off_ += n;
    if (Status s = emit_(chunk); !s.ok()) {
      error_ = s;
      return s;
    }
  }
  const uint64_t chunk_start = buf_start_ + buf_off_;
  if (!forced_.empty() && *forced_.begin() <= chunk_start) {
    forced_.erase(forced_.begin(), forced_.upper_bound(chunk_start));
  }
  // Compact only when the bytes to move are no more than those already emitted, so each byte
  // is moved O(1) times on average whatever the write sizes.
  const size_t rest = pending();
  if (buf_off_ > 0 && buf_off_ >= rest) {
    if (rest > 0) std::memmove(buf_.data(), buf_.data() + buf_off_, rest);
    buf_.resize(rest);
    buf_start_ += buf_off_;
    buf_off_ = 0;
  }
  return Status::Ok();
}

Status Chunker::Write(ByteView data) {
  if (!error_.ok()) return error_;
  total_ += data.size();
  // Feed at most max_size bytes at a time, so a huge write does not make a huge buffer.
  const size_t step = params_.max_size;
  while (!data.empty()) {
    const ByteView piece = data.first(std::min(step, data.size()));
    buf_.insert(buf_.end(), piece.begin(), piece.end());
    data = data.subspan(piece.size());
    RETURN_IF_ERROR(EmitReady(/*at_end=*/false));
  }
  return Status::Ok();
}

Status Chunker::Finish() {
  if (!error_.ok()) return error_;
  return EmitReady(/*at_end=*/true);
}

}  // namespace weightfs::repo
