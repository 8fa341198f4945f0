#include "weightfs/crypto/object_cipher.h"

#include <string.h>  // NOLINT(modernize-deprecated-headers): explicit_bzero, not in <cstring>
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "weightfs/crypto/primitives.h"

namespace weightfs::crypto {
namespace {

constexpr std::array<uint8_t, 4> kMagic = {'W', 'F', 'O', 'B'};
constexpr uint8_t kFormatVersion = 1;
constexpr size_t kRepoIdSize = 16;
constexpr std::string_view kObjectKeyInfo = "weightfs object key v1";
constexpr std::string_view kFrameAadLabel = "weightfs frame v1";

std::string Describe(const ObjectId& id) { return "object " + id.Hex(); }

uint32_t LoadU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void StoreU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

Bytes MakeHeader(uint8_t type, uint32_t key_id) {
  Bytes header;
  header.reserve(kObjectHeaderSize);
  PutBytes(&header, kMagic);
  PutU8(&header, kFormatVersion);
  PutU8(&header, type);
  PutU8(&header, 0);  // reserved u16
  PutU8(&header, 0);
  PutU32(&header, key_id);
  PutU32(&header, 0);  // reserved u32
  return header;
}

// nonce_i = frame index u64 LE || 4 zero bytes.
std::array<uint8_t, kGcmNonceSize> FrameNonce(uint64_t index) {
  std::array<uint8_t, kGcmNonceSize> nonce{};
  StoreU64(nonce.data(), index);
  return nonce;
}

// aad_i = label || header || repo id || object id || frame index u64 LE || last-frame flag u8.
// Built once per object; only the trailing 9 bytes change from frame to frame.
class FrameAad {
 public:
  FrameAad(ByteView header, ByteView repo_id, const ObjectId& id) {
    bytes_.reserve(kFrameAadLabel.size() + header.size() + repo_id.size() + ObjectId::kSize + 9);
    PutBytes(&bytes_, AsBytes(kFrameAadLabel));
    PutBytes(&bytes_, header);
    PutBytes(&bytes_, repo_id);
    PutBytes(&bytes_, id.bytes());
    bytes_.resize(bytes_.size() + 9);
  }

  ByteView For(uint64_t index, bool last) {
    uint8_t* tail = bytes_.data() + bytes_.size() - 9;
    StoreU64(tail, index);
    tail[8] = last ? 1 : 0;
    return bytes_;
  }

 private:
  Bytes bytes_;
};

}  // namespace

ObjectCipher::ObjectCipher(Bytes repo_id, std::map<uint32_t, SecretBytes> keys, uint32_t new_key_id,
                           std::set<uint32_t> withheld)
    : repo_id_(std::move(repo_id)),
      keys_(std::move(keys)),
      new_key_id_(new_key_id),
      withheld_(std::move(withheld)),
      key_slots_(std::make_unique<KeySlot[]>(kKeyCacheSlots)),
      key_cache_(key_slots_.get()) {
  WFS_CHECK(repo_id_.size() == kRepoIdSize);
  WFS_CHECK(keys_.contains(new_key_id_));
  for (const auto& [key_id, key] : keys_) WFS_CHECK(key.size() == kAesKeySize);
}

ObjectCipher::~ObjectCipher() {
  explicit_bzero(key_slots_.get(), sizeof(KeySlot) * kKeyCacheSlots);
}

uint64_t ObjectCipher::FrameCount(uint64_t plaintext_size) {
  if (plaintext_size == 0) return 1;
  return plaintext_size / kFrameSize + (plaintext_size % kFrameSize != 0 ? 1 : 0);
}

uint64_t ObjectCipher::SealedSize(uint64_t plaintext_size) {
  return kObjectHeaderSize + plaintext_size + kGcmTagSize * FrameCount(plaintext_size);
}

Result<uint64_t> ObjectCipher::PlaintextSize(uint64_t sealed_size) {
  if (sealed_size < kObjectHeaderSize + kGcmTagSize) {
    return Corruption("a sealed object of " + std::to_string(sealed_size) +
                      " bytes is shorter than a header and one tag");
  }
  uint64_t body = sealed_size - kObjectHeaderSize;
  uint64_t full_frames = body / kSealedFrameSize;
  uint64_t rest = body % kSealedFrameSize;
  if (rest == 0) return full_frames * kFrameSize;
  // A short last frame holds a tag and at least one byte; an empty frame only exists alone.
  if (rest < kGcmTagSize || (rest == kGcmTagSize && full_frames > 0)) {
    return Corruption("no object seals to " + std::to_string(sealed_size) + " bytes");
  }
  return full_frames * kFrameSize + (rest - kGcmTagSize);
}

Result<SecretBytes> ObjectCipher::ObjectKey(uint32_t key_id, const ObjectId& id) const {
  // Ids are MACs, so their first bytes spread evenly over the slots.
  const size_t slot = (size_t{id.bytes()[0]} << 8 | id.bytes()[1]) % kKeyCacheSlots;
  {
    MutexLock lock(&key_mu_);
    const KeySlot& k = key_cache_[slot];
    if (k.used && k.key_id == key_id && k.id == id) return SecretBytes(ByteView(k.key));
  }
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return UnknownKey(key_id);
  Bytes info;
  info.reserve(kObjectKeyInfo.size() + ObjectId::kSize);
  PutBytes(&info, AsBytes(kObjectKeyInfo));
  PutBytes(&info, id.bytes());
  ASSIGN_OR_RETURN(SecretBytes key, Hkdf(it->second.view(), repo_id_, info, kAesKeySize));
  MutexLock lock(&key_mu_);
  KeySlot& k = key_cache_[slot];
  k.used = true;
  k.key_id = key_id;
  k.id = id;
  std::memcpy(k.key.data(), key.data(), k.key.size());
  return key;
}

Bytes ObjectCipher::CurrentHeader(uint8_t type) const { return MakeHeader(type, new_key_id_); }

Status ObjectCipher::CheckHeader(uint8_t type, ByteView header, uint32_t* key_id) const {
  if (header.size() != kObjectHeaderSize) {
    return Corruption("header has " + std::to_string(header.size()) + " bytes, not 16");
  }
  if (!std::equal(kMagic.begin(), kMagic.end(), header.begin())) {
    return Corruption("bad magic: not a weightfs object");
  }
  uint8_t version = header[4];
  if (version > kFormatVersion) {
    return Unsupported("object format v" + std::to_string(version) + " is newer than this build");
  }
  if (version != kFormatVersion) {
    return Corruption("unknown object format v" + std::to_string(version));
  }
  if (header[5] != type) {
    return Corruption("object has type " + std::to_string(header[5]) + ", expected " +
                      std::to_string(type));
  }
  if (header[6] != 0 || header[7] != 0 || LoadU32(&header[12]) != 0) {
    return Corruption("reserved header bytes are not zero");
  }
  uint32_t id = LoadU32(&header[8]);
  if (!keys_.contains(id)) return UnknownKey(id);
  *key_id = id;
  return Status::Ok();
}

Result<Bytes> ObjectCipher::Seal(uint8_t type, const ObjectId& id, ByteView plaintext) const {
  Bytes sealed(SealedSize(plaintext.size()));
  RETURN_IF_ERROR(SealInto(type, id, plaintext, sealed));
  return sealed;
}

Status ObjectCipher::UnknownKey(uint32_t key_id) const {
  if (withheld_.contains(key_id)) {
    return PermissionDenied("sealed under key id " + std::to_string(key_id) +
                            ", another scope's, which this key slot does not hold");
  }
  return Corruption("unknown key id " + std::to_string(key_id));
}

Status ObjectCipher::SealInto(uint8_t type, const ObjectId& id, ByteView plaintext,
                              std::span<uint8_t> sealed, uint32_t key_id) const {
  if (sealed.size() != SealedSize(plaintext.size())) {
    return InvalidArgument(Describe(id) + ": sealing needs " +
                           std::to_string(SealedSize(plaintext.size())) + " bytes, got " +
                           std::to_string(sealed.size()));
  }
  Result<SecretBytes> key = ObjectKey(key_id, id);
  if (!key.ok()) return key.status().WithContext(Describe(id));
  Bytes header = MakeHeader(type, key_id);
  FrameAad aad(header, repo_id_, id);
  const uint64_t frames = FrameCount(plaintext.size());
  std::copy(header.begin(), header.end(), sealed.begin());
  for (uint64_t i = 0; i < frames; ++i) {
    ByteView frame = plaintext.subspan(
        i * kFrameSize, std::min<uint64_t>(kFrameSize, plaintext.size() - i * kFrameSize));
    Status s = AesGcmSealInto(key->view(), FrameNonce(i), aad.For(i, i + 1 == frames), frame,
                              sealed.data() + FrameOffset(i));
    if (!s.ok()) return s.WithContext(Describe(id) + ": frame " + std::to_string(i));
  }
  return Status::Ok();
}

Result<Bytes> ObjectCipher::Open(uint8_t type, const ObjectId& id, ByteView sealed) const {
  if (sealed.size() < kObjectHeaderSize) {
    return Corruption(Describe(id) + ": sealed object of " + std::to_string(sealed.size()) +
                      " bytes is shorter than its header");
  }
  Bytes out;
  if (Result<uint64_t> size = PlaintextSize(sealed.size()); size.ok()) out.reserve(*size);
  RETURN_IF_ERROR(OpenFrames(type, id, sealed.first(kObjectHeaderSize), sealed.size(), 0,
                             sealed.subspan(kObjectHeaderSize), &out));
  return out;
}

Status ObjectCipher::OpenFrames(uint8_t type, const ObjectId& id, ByteView header,
                                uint64_t sealed_size, uint64_t first_frame, ByteView sealed_frames,
                                Bytes* out) const {
  uint32_t key_id = 0;
  if (Status s = CheckHeader(type, header, &key_id); !s.ok()) {
    return s.WithContext(Describe(id));
  }
  Result<uint64_t> plaintext_size = PlaintextSize(sealed_size);
  if (!plaintext_size.ok()) return plaintext_size.status().WithContext(Describe(id));
  const uint64_t frames = FrameCount(*plaintext_size);
  if (sealed_frames.empty()) {
    return InvalidArgument(Describe(id) + ": no sealed frames given to open");
  }
  if (first_frame >= frames) {
    return Corruption(Describe(id) + ": frame " + std::to_string(first_frame) +
                      " is past the end of a " + std::to_string(sealed_size) + "-byte object of " +
                      std::to_string(frames) + " frames");
  }
  // Every frame but the last is kSealedFrameSize long, so the length decides the frame count.
  const uint64_t begin = FrameOffset(first_frame);
  const uint64_t n = sealed_frames.size() / kSealedFrameSize +
                     (sealed_frames.size() % kSealedFrameSize != 0 ? 1 : 0);
  const uint64_t end_frame = first_frame + n;
  const uint64_t expected =
      end_frame > frames ? UINT64_MAX : std::min(FrameOffset(end_frame), sealed_size) - begin;
  if (sealed_frames.size() != expected) {
    return Corruption(Describe(id) + ": " + std::to_string(sealed_frames.size()) +
                      " sealed bytes from frame " + std::to_string(first_frame) +
                      " do not match whole frames of a " + std::to_string(sealed_size) +
                      "-byte object");
  }

  Result<SecretBytes> key = ObjectKey(key_id, id);
  if (!key.ok()) return key.status().WithContext(Describe(id));
  FrameAad aad(header, repo_id_, id);
  const size_t old_size = out->size();
  out->resize(old_size + sealed_frames.size() - n * kGcmTagSize);
  uint8_t* dest = out->data() + old_size;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t index = first_frame + i;
    ByteView frame = sealed_frames.subspan(
        i * kSealedFrameSize,
        std::min<uint64_t>(kSealedFrameSize, sealed_frames.size() - i * kSealedFrameSize));
    Status s = AesGcmOpenInto(key->view(), FrameNonce(index), aad.For(index, index + 1 == frames),
                              frame, dest + i * kFrameSize);
    if (!s.ok()) {
      out->resize(old_size);
      if (s.code() == Code::kCorruption) {
        return Corruption(Describe(id) + ": frame " + std::to_string(index) +
                          " failed authentication");
      }
      return s.WithContext(Describe(id) + ": frame " + std::to_string(index));
    }
  }
  return Status::Ok();
}

Status ObjectCipher::OpenFramesInPlace(uint8_t type, const ObjectId& id, ByteView header,
                                       uint64_t sealed_size, uint64_t first_frame, uint64_t n,
                                       std::span<uint8_t> sealed_frames,
                                       std::vector<uint64_t>* bad_frames) const {
  uint32_t key_id = 0;
  if (Status s = CheckHeader(type, header, &key_id); !s.ok()) return s.WithContext(Describe(id));
  Result<uint64_t> plaintext_size = PlaintextSize(sealed_size);
  if (!plaintext_size.ok()) return plaintext_size.status().WithContext(Describe(id));
  const uint64_t frames = FrameCount(*plaintext_size);
  if (n == 0 || first_frame >= frames || n > frames - first_frame) {
    return Corruption(Describe(id) + ": frames " + std::to_string(first_frame) + "+" +
                      std::to_string(n) + " are past the end of a " + std::to_string(sealed_size) +
                      "-byte object");
  }
  Result<SecretBytes> key = ObjectKey(key_id, id);
  if (!key.ok()) return key.status().WithContext(Describe(id));
  FrameAad aad(header, repo_id_, id);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t index = first_frame + i;
    const uint64_t begin = i * kSealedFrameSize;
    const uint64_t want = std::min(FrameOffset(index + 1), sealed_size) - FrameOffset(index);
    const uint64_t have = begin >= sealed_frames.size() ? 0 : sealed_frames.size() - begin;
    uint8_t* frame = sealed_frames.data() + begin;
    Status s = have < want ? Corruption("frame missing")
                           : AesGcmOpenInto(key->view(), FrameNonce(index),
                                            aad.For(index, index + 1 == frames),
                                            ByteView(frame, want), frame);
    if (!s.ok()) {
      if (s.code() != Code::kCorruption) return s.WithContext(Describe(id));
      if (have > 0) explicit_bzero(frame, std::min(have, want));
      bad_frames->push_back(index);
    }
  }
  return Status::Ok();
}

Status ObjectCipher::LockKeyMemory() const {
  for (const auto& [key_id, key] : keys_) RETURN_IF_ERROR(LockInMemory(key.data(), key.size()));
  return LockInMemory(key_slots_.get(), sizeof(KeySlot) * kKeyCacheSlots);
}

}  // namespace weightfs::crypto
