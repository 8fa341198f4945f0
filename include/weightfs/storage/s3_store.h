// A bucket (and prefix) of an S3-compatible object store as an ObjectStore, over libcurl.
// Layout as the local store's: "<prefix>/objects/<2 hex>/<64 hex>", named files at
// "<prefix>/<name>". Requests are signed with SigV4, sent over kept-alive connections (many in
// flight from many threads), retried idempotently with exponential backoff and jitter on 5xx,
// 429/SlowDown, timeouts and connection resets. Named-file compare-and-swap uses conditional
// writes (If-Match on the ETag, If-None-Match: * to create) where the server honours them (see
// ConditionalWrites); TryLock is kUnsupported (S3 has no locks that die with their holder).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/mutex.h"
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

class S3Client;  // src/storage/s3_client.h

class S3Store : public ObjectStore {
 public:
  // Checks that the bucket exists and the credentials are accepted (one request) and reads
  // kConditionalWritesFile. Errors say what to do: kPermissionDenied (credentials refused,
  // access denied, clock skew), kNotFound (no such bucket), kInvalidArgument (wrong region,
  // naming the bucket's region when the server says it), kIoError (endpoint unreachable).
  static Result<std::unique_ptr<S3Store>> Open(StoreOptions options);
  ~S3Store() override;

  // Tries conditional writes on a scratch name under the prefix and records the result in
  // kConditionalWritesFile (called by init).
  Result<ConditionalWrites> ProbeConditionalWrites();
  ConditionalWrites conditional_writes() const;
  const Location& location() const;

  // Objects. Put does not overwrite: with conditional writes it is one PUT with
  // If-None-Match: *, without them a HEAD first. Sync is a no-op (a PUT is durable when it
  // returns).
  Status Put(const ObjectId& id, ByteView data) override;
  Result<Bytes> Get(const ObjectId& id) override;
  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override;
  Result<size_t> ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest) override;
  Result<bool> Contains(const ObjectId& id) override;
  Result<uint64_t> Size(const ObjectId& id) override;
  Status Delete(const ObjectId& id) override;
  Status ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) override;
  Result<int64_t> MTime(const ObjectId& id) override;
  // Copies the object onto itself (metadata directive REPLACE), which renews Last-Modified.
  Status Touch(const ObjectId& id) override;
  Status Sync() override;

  // Named files. S3 has no directories; the store keeps the local store's rules anyway (a file
  // under a file is kNotDirectory, a name with files under it kIsDirectory), which costs a HEAD
  // per parent and a listing per write. CompareAndSwapFile is atomic across processes only with
  // conditional writes; without them it is atomic among the callers of this S3Store only.
  Result<std::optional<Bytes>> ReadFile(const std::string& name) override;
  Result<std::optional<Bytes>> ReadFileAtMost(const std::string& name, size_t max_size) override;
  Status WriteFile(const std::string& name, ByteView data) override;
  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override;
  Status CreateFileExclusive(const std::string& name, ByteView data) override;
  Status DeleteFile(const std::string& name) override;
  // kConditionalWritesFile is the store's own and not listed.
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override;
  // TryLock: the default kUnsupported (S3 has no locks that die with their holder).

 private:
  explicit S3Store(std::unique_ptr<S3Client> client);
  Status CheckBucket();
  Status CheckWritable(const std::string& name);
  Result<bool> IsDirectoryName(const std::string& name);
  Status CasConditional(const std::string& name, const std::optional<Bytes>& expected,
                        ByteView data);
  Status CasSerialized(const std::string& name, const std::optional<Bytes>& expected,
                       ByteView data);

  std::unique_ptr<S3Client> client_;
  std::atomic<ConditionalWrites> conditional_{ConditionalWrites::kUnknown};
  // If-Match carries the ETag without quotes: the server refused the quoted form of a current
  // ETag and accepted the bare one (radosgw does). Found by the probe, or by the first
  // compare-and-swap that meets it.
  std::atomic<bool> bare_etag_{false};
  // Serializes compare-and-swap and exclusive creation when the server has no conditional
  // writes. Held across requests (nothing else takes it).
  Mutex cas_mu_;
};

}  // namespace weightfs::storage::s3
