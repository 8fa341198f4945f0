// The repository's small records and their codecs: the plaintext of the sealed refs (refs/main,
// refs/tags, refs/policy), the lock and lease records under locks/, and this machine's local state
// files. Every decoder here reads bytes someone else may have written (a ref only once it has
// authenticated, the rest unauthenticated), so it checks everything and never throws or reads out
// of bounds. Internal to the repo module; tests and the fuzz targets (fuzz/) include it directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/ref_updater.h"

namespace weightfs::repo {

Bytes EncodeMain(const MainRef& m);
Result<MainRef> DecodeMain(ByteView data);

// Encoding 2 adds the generation; encoding 1 (generation 0) is still read.
Bytes EncodeTags(const std::map<std::string, ObjectId>& tags, uint64_t generation);
Result<std::map<std::string, ObjectId>> DecodeTags(ByteView data, uint64_t* generation);

// refs/policy: the current policy object's id.
Bytes EncodePolicyRef(const ObjectId& id);
Result<ObjectId> DecodePolicyRef(ByteView data);

// A lease record (locks/lease-*; see leases.h). name is the record's file, for messages.
Bytes EncodeLeaseRecord(const LeaseInfo& info);
Result<LeaseInfo> DecodeLeaseRecord(const std::string& name, ByteView data);

// Who holds locks/writer or locks/gc, as its record says. Only ever shown to the user or used to
// judge whether the holder still runs, so a damaged record is not an error: fields that are
// missing or of the wrong type keep their defaults.
struct LockRecord {
  std::string host;
  int pid = 0;
  int64_t time = 0;  // seconds since the epoch
  std::optional<std::string> mountpoint;
  bool parsed = false;  // false: the record is missing or not a JSON object
};
LockRecord ParseLockRecord(const std::optional<Bytes>& data);

// A local state file of one sequence number and one id, exactly as weightfs writes it:
// "seq N\n<key> <64 lowercase hex digits or ->\n". nullopt when text is anything else.
struct SeqState {
  uint64_t seq = 0;
  std::string value;  // the hex id, "" for "-"
};
std::optional<SeqState> ParseSeqState(std::string_view text, std::string_view key);

// The "key value" lines of the tags state file; repeated keys keep every value.
std::multimap<std::string, std::string> ParseStateLines(std::string_view text);

}  // namespace weightfs::repo
