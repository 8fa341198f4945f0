// ObjectCipher seals and opens repository objects in 64 KiB AES-256-GCM frames, so that one
// frame of a large object can be read and authenticated alone.
//
// Sealed layout:  header (16 bytes) || frame 0 || frame 1 || ... || frame k-1
//   header = "WFOB" || format version u8 (1) || object type u8 || reserved u16 (0)
//            || key id u32 LE || reserved u32 (0)
//   frame i = AES-256-GCM(object key, nonce_i, aad_i, plaintext[i*64Ki, (i+1)*64Ki)) || tag
// An object always has at least one frame (an empty object has one empty frame).
//   object key = HKDF-SHA-256(ikm = content key[key id], salt = repo id,
//                             info = "weightfs object key v1" || object id)
//   nonce_i    = frame index as u64 LE || 4 zero bytes (unique per key: the key is per object)
//   aad_i      = "weightfs frame v1" || header || repo id || object id || frame index u64 LE
//                || last-frame flag u8
// So frames cannot be reordered, moved to another object, truncated away or have their header
// edited without the AEAD failing (kCorruption). Same plaintext and id give the same bytes.
//
// Thread-safe: immutable after construction but for its key cache, which has its own lock.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"

namespace weightfs::crypto {

constexpr size_t kFrameSize = 64 * 1024;
constexpr size_t kObjectHeaderSize = 16;
constexpr size_t kSealedFrameSize = kFrameSize + 16;

class ObjectCipher {
 public:
  // repo_id: 16 bytes. keys: key id -> 32-byte content key. new_key_id: the key that seals when
  // none is named. withheld: key ids that exist in the repository but that these keys do not
  // include (another scope's): an object sealed under one is kPermissionDenied, not corruption.
  ObjectCipher(Bytes repo_id, std::map<uint32_t, SecretBytes> keys, uint32_t new_key_id,
               std::set<uint32_t> withheld = {});
  ~ObjectCipher();

  Result<Bytes> Seal(uint8_t type, const ObjectId& id, ByteView plaintext) const;
  // Seals into out, which must hold exactly SealedSize(plaintext.size()) bytes (an UninitBuffer:
  // every byte is written, so the data path never zero-fills a buffer first).
  Status SealInto(uint8_t type, const ObjectId& id, ByteView plaintext,
                  std::span<uint8_t> out) const {
    return SealInto(type, id, plaintext, out, new_key_id_);
  }
  // The same under key key_id (kPermissionDenied when this cipher does not hold it).
  Status SealInto(uint8_t type, const ObjectId& id, ByteView plaintext, std::span<uint8_t> out,
                  uint32_t key_id) const;
  bool Holds(uint32_t key_id) const { return keys_.contains(key_id); }
  // Opens and authenticates a whole sealed object.
  Result<Bytes> Open(uint8_t type, const ObjectId& id, ByteView sealed) const;

  // Opens frames [first_frame, first_frame + n) where sealed_frames holds exactly those sealed
  // frames (contiguous, as stored) and header the object's first kObjectHeaderSize bytes.
  // sealed_size is the size of the whole sealed object (it decides which frame is last).
  // Appends the plaintext to *out.
  Status OpenFrames(uint8_t type, const ObjectId& id, ByteView header, uint64_t sealed_size,
                    uint64_t first_frame, ByteView sealed_frames, Bytes* out) const;

  // Opens the sealed frames [first_frame, first_frame + n) in place: sealed_frames holds exactly
  // those frames as stored (the last may be cut short by a damaged store), and afterwards frame
  // first_frame + i's plaintext starts at sealed_frames.data() + i * kSealedFrameSize. A frame
  // that fails authentication (or is missing from a short buffer) is wiped and its index added
  // to *bad_frames; the others are still opened. Fails only when nothing can be opened (a bad
  // header, a size no object has, frames past the end).
  Status OpenFramesInPlace(uint8_t type, const ObjectId& id, ByteView header, uint64_t sealed_size,
                           uint64_t first_frame, uint64_t n, std::span<uint8_t> sealed_frames,
                           std::vector<uint64_t>* bad_frames) const;

  // The header Seal writes for type today. A reader of a few frames in the middle of an object
  // may pass it to OpenFrames instead of reading the stored header: the frames authenticate
  // only if the stored header is this one (else read the stored one and retry).
  Bytes CurrentHeader(uint8_t type) const;

  // Keeps the content keys and the cache of derived object keys in RAM (see LockInMemory): for a
  // daemon whose cipher lives until it exits.
  Status LockKeyMemory() const;

  static uint64_t FrameCount(uint64_t plaintext_size);
  static uint64_t SealedSize(uint64_t plaintext_size);
  // kCorruption if no plaintext size gives this sealed size.
  static Result<uint64_t> PlaintextSize(uint64_t sealed_size);
  // Offset of sealed frame i within the sealed object.
  static uint64_t FrameOffset(uint64_t frame_index) {
    return kObjectHeaderSize + frame_index * kSealedFrameSize;
  }

 private:
  // The object's key (HKDF), from a small cache of recently used objects' keys.
  Result<SecretBytes> ObjectKey(uint32_t key_id, const ObjectId& id) const EXCLUDES(key_mu_);
  Status CheckHeader(uint8_t type, ByteView header, uint32_t* key_id) const;
  // kPermissionDenied for a withheld key id, kCorruption for one that does not exist.
  Status UnknownKey(uint32_t key_id) const;

  Bytes repo_id_;
  std::map<uint32_t, SecretBytes> keys_;
  uint32_t new_key_id_;
  std::set<uint32_t> withheld_;

  // Direct-mapped cache of derived object keys: a large object read frame by frame, or a hot
  // one read again, derives its key once. Slots are wiped on destruction.
  struct KeySlot {
    bool used = false;
    uint32_t key_id = 0;
    ObjectId id;
    std::array<uint8_t, 32> key{};
  };
  static constexpr size_t kKeyCacheSlots = 512;
  mutable Mutex key_mu_;  // a leaf lock, held only to copy a slot
  // kKeyCacheSlots slots, owned by key_slots_ and used through key_cache_ (clang's analysis
  // checks raw pointers only).
  const std::unique_ptr<KeySlot[]> key_slots_;
  KeySlot* const key_cache_ PT_GUARDED_BY(key_mu_);
};

}  // namespace weightfs::crypto
