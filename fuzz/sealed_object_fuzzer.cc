// Fuzzes the object cipher's framing as the store hands it over: the first input byte picks the
// object type, the rest is the sealed object. Open (whole object), OpenFramesInPlace (a damaged
// store's short or corrupt frames) and PlaintextSize, under fixed keys and object id. Seeds are
// real objects sealed under those keys, so a plaintext that authenticates goes on to its decoder.
#include <algorithm>

#include "fuzz/fixed_keys.h"
#include "weightfs/repo/objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  if (size < 1) return 0;
  static const crypto::ObjectCipher cipher = fuzz::MakeCipher();
  const ObjectId id = fuzz::FixedObjectId();
  const uint8_t type = data[0];
  const ByteView sealed(data + 1, size - 1);

  (void)crypto::ObjectCipher::PlaintextSize(sealed.size());
  if (auto plain = cipher.Open(type, id, sealed); plain.ok()) {
    switch (static_cast<repo::ObjectType>(type)) {
      case repo::ObjectType::kFile:
        (void)repo::DecodeFile(*plain);
        break;
      case repo::ObjectType::kTree:
        (void)repo::DecodeTree(*plain);
        break;
      case repo::ObjectType::kSnapshot:
        (void)repo::DecodeSnapshot(*plain);
        break;
      case repo::ObjectType::kPolicy:
        (void)repo::DecodePolicy(*plain);
        break;
      default:
        break;
    }
  }
  if (sealed.size() < crypto::kObjectHeaderSize) return 0;
  // The frames the store returned for a read from frame 0, possibly cut short.
  const ByteView header = sealed.first(crypto::kObjectHeaderSize);
  Bytes frames(sealed.begin() + crypto::kObjectHeaderSize, sealed.end());
  const uint64_t n = std::max<uint64_t>(
      1, (frames.size() + crypto::kSealedFrameSize - 1) / crypto::kSealedFrameSize);
  std::vector<uint64_t> bad;
  (void)cipher.OpenFramesInPlace(type, id, header, sealed.size(), 0, n, frames, &bad);
  Bytes out;
  (void)cipher.OpenFrames(type, id, header, sealed.size(), 0, ByteView(frames), &out);
  return 0;
}
