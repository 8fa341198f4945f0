// Fuzzes Reader, the bounds-checked little-endian decoder every binary format goes through, and
// the hex decoders (object ids in records, key slots and state files). The input drives a program:
// each byte picks the next read; the reads consume the rest of the input.
#include <cstdlib>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const ByteView input(data, size);
  (void)FromHex(AsString(input));
  (void)ObjectId::FromHex(AsString(input));
  Reader r(input);
  for (size_t step = 0; step < 64 && !r.done(); ++step) {
    const size_t before = r.remaining();
    auto op = r.U8();
    if (!op.ok()) std::abort();  // not done, so one byte is there
    bool ok = true;
    switch (*op % 6) {
      case 0:
        ok = r.U8().ok();
        break;
      case 1:
        ok = r.U32().ok();
        break;
      case 2:
        ok = r.U64().ok();
        break;
      case 3:
        ok = r.Raw(*op / 6).ok();
        break;
      case 4:
        ok = r.LengthPrefixed().ok();
        break;
      case 5:
        ok = r.String().ok();
        break;
    }
    if (r.remaining() > before) std::abort();
    if (!ok) break;
  }
  return 0;
}
