// CachingStore: a node-local, bounded cache of a (remote) store's objects in a directory, so that
// remounts and the several mounts and commands of one machine do not fetch the same objects again.
//
// Only objects are cached: they are immutable, named by content and already sealed by the repo
// layer (the cache never holds plaintext). Named files (refs, config, keys, locks) and the object
// calls that ask about the backing store's state (Delete, Touch, MTime, ForEach, Sync) go to the
// backing store. Get, GetRange, ReadInto, Size and Contains are answered from the cache when it
// holds the object; a read that misses fetches the whole object once (concurrent misses of one
// id in this process share the fetch), keeps it and serves the range. Size and Contains that
// miss ask the backing store and fetch nothing. Put writes through, then keeps a copy (a just
// written object is often read back).
//
// Layout: DIR/objects/<2 hex>/<64 hex>, each written to a temp file in DIR/tmp and renamed into
// place without an fsync: a torn entry after a crash fails authentication in the repo layer,
// which drops it (DropCachedCopy) and reads the object again. Several processes may share DIR at
// once: entries appear by rename, every process counts the bytes it sees (a scan at open and
// again after it added an eighth of the bound, or half a minute later; N processes filling the
// cache at once may take it to about max_bytes * (1 + N / 8)) and evicts (of two random entries the
// one used less recently; a hit renews an entry's mtime, at most once a minute), and a file another
// process has open stays readable after it is unlinked. DIR/max_bytes records the bound last opened
// with (for stats).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

inline constexpr uint64_t kDefaultCacheMaxBytes = 4ULL << 30;

struct CacheOptions {
  // Created if missing (with its parents).
  std::string dir;
  // The cache's bytes are kept at or below this (an object larger than it is served, not kept).
  uint64_t max_bytes = kDefaultCacheMaxBytes;
  // Where problems of the cache itself go (a write that failed, a damaged entry dropped): the
  // cache never fails a read it can serve from the backing store. May be empty.
  std::function<void(const std::string& message)> log;
};

// Wraps backing (which the returned store shares; for one that outlives it, pass a shared_ptr
// with a no-op deleter). kInvalidArgument for an empty dir, an I/O error when dir cannot be made.
Result<std::unique_ptr<ObjectStore>> OpenCachingStore(std::shared_ptr<ObjectStore> backing,
                                                      CacheOptions options);

// What a cache directory holds now (by a scan; any process may change it meanwhile).
struct CacheDirStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  std::optional<uint64_t> max_bytes;  // the bound it was last opened with, when recorded
};
// A directory that does not exist is an empty cache.
Result<CacheDirStats> ScanCacheDir(const std::string& dir);

// Removes every entry (and temp files no process is writing any more), leaving the directories:
// safe while other processes use the cache (their open entries stay readable, the next read of
// a removed one fetches it again). Returns the entries and bytes removed.
Result<CacheDirStats> ClearCacheDir(const std::string& dir);

}  // namespace weightfs::storage
