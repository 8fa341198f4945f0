// A bucket (and prefix) of an S3-compatible object store as an ObjectStore, over libcurl.
// Layout as the local store's: "<prefix>/objects/<2 hex>/<64 hex>", named files at
// "<prefix>/<name>". Requests are signed with SigV4, sent over kept-alive connections (many in
// flight from many threads), retried idempotently with exponential backoff and jitter on 5xx,
// 429/SlowDown, timeouts and connection resets. Named-file compare-and-swap uses conditional
// writes (If-Match on the ETag, If-None-Match: * to create) where the server honours them (see
// ConditionalWrites); TryLock is kUnsupported (S3 has no locks that die with their holder).
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "weightfs/storage/object_store.h"
#include "weightfs/storage/s3_config.h"

namespace weightfs::storage::s3 {

struct StoreOptions {
  Settings settings;
  Location location;
  // Connections kept open (and requests in flight) at most.
  int max_connections = 32;
  // A request that makes no progress for this long is abandoned (and retried).
  std::chrono::milliseconds timeout{30000};
  // Attempts per request (the first included) for retryable failures.
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_max{10000};
  // Notable events (retries, throttling); never given a secret. May be empty.
  std::function<void(const std::string&)> log;
};

// Whether the server refuses a conditional write whose condition fails (S3 since 2024, recent
// MinIO, Ceph RGW): then compare-and-swap on named files is atomic. Recorded in the store's
// named file kConditionalWritesFile at init (ProbeConditionalWrites) and read at open.
enum class ConditionalWrites { kUnknown, kSupported, kUnsupported };
inline constexpr const char* kConditionalWritesFile = "s3-conditional-writes";

class S3Store : public ObjectStore {
 public:
  // Checks that the bucket exists and the credentials are accepted (one request) and reads
  // kConditionalWritesFile. Errors say what to do: kPermissionDenied (credentials refused,
  // access denied, clock skew), kNotFound (no such bucket), kInvalidArgument (wrong region,
  // naming the bucket's region when the server says it), kIoError (endpoint unreachable).
  static Result<std::unique_ptr<S3Store>> Open(StoreOptions options);

  // Tries conditional writes on a scratch name under the prefix and records the result in
  // kConditionalWritesFile (called by init).
  Result<ConditionalWrites> ProbeConditionalWrites();
  ConditionalWrites conditional_writes() const;
  const Location& location() const;
};

}  // namespace weightfs::storage::s3
