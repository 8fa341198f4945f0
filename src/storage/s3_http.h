// The HTTP layer of the S3 store, over libcurl: a bounded pool of easy handles, each keeping its
// connection alive between requests, shared by every thread. One Perform is one attempt: retries,
// signing and S3's error documents are the caller's (s3_client.h).
// Thread-safe; the pool's mutex is never held during a transfer.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/storage/s3_signer.h"

namespace weightfs::storage::s3 {

struct HttpRequest {
  std::string method;  // GET, PUT, HEAD, DELETE
  std::string url;     // already encoded
  HeaderList headers;  // sent as given
  ByteView body;       // not copied: must outlive Perform
  // With receive_into set, a 2xx answer's body goes straight into *receive_into (never past its
  // end); other answers' bodies (error documents) go to HttpResponse::body.
  std::span<uint8_t>* receive_into = nullptr;
  // When the server ignores a Range and answers 200 with the whole object, the first
  // skip_on_200 bytes of the body are dropped (the range's offset).
  uint64_t skip_on_200 = 0;
  // A larger 2xx body is not read: the transfer stops and HttpResponse::body_too_large is set.
  size_t max_body = std::numeric_limits<size_t>::max();
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lowercased, values trimmed
  Bytes body;
  size_t received_into = 0;  // bytes written to receive_into
  bool body_too_large = false;
  // How many times a PUT went out (0 for other methods): curl resends on its own when a
  // kept-alive connection dies before an answer, which may follow a PUT that took effect.
  int sends = 0;

  // The value of the header (name in lowercase), empty when absent.
  std::string Header(std::string_view name) const;
};

// How an attempt failed below HTTP.
enum class TransportError {
  kNone,
  kTimeout,     // no progress for the timeout (or a connect timeout)
  kConnection,  // refused, reset, closed early, DNS failure
  kOther,       // anything else curl reports (TLS, bad URL, ...): not retried
};

struct HttpOutcome {
  TransportError error = TransportError::kNone;
  std::string error_text;  // curl's description when error != kNone
  bool resolve_failed = false;
  HttpResponse response;
};

class HttpClient {
 public:
  HttpClient(int max_connections, std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request on a pooled handle (waiting for one when max_connections are busy).
  HttpOutcome Perform(const HttpRequest& request);

 private:
  void* Acquire();
  void Release(void* handle);

  const int max_connections_;
  const std::chrono::milliseconds timeout_;
  Mutex mu_;
  CondVar available_{&mu_};
  std::vector<void*> idle_ GUARDED_BY(mu_);
  int created_ GUARDED_BY(mu_) = 0;
};

}  // namespace weightfs::storage::s3
