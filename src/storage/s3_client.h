// The S3 request layer under S3Store: turns a (method, key, query, headers, body) into a signed
// HTTP request on the right URL (path-style or virtual-hosted), retries what is safe to retry
// with exponential backoff and full jitter, and turns S3's error answers into Statuses that say
// what to do. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "storage/s3_http.h"
#include "storage/s3_xml.h"
#include "weightfs/core/object_id.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::storage::s3 {

// The scratch files of ProbeConditionalWrites; ListFiles hides them, as kConditionalWritesFile.
inline constexpr std::string_view kProbePrefix = "s3-conditional-probe-";

// An ETag without its quotes ("\"abc\"" -> "abc"): radosgw matches If-Match only against
// that form.
inline std::string UnquotedETag(const std::string& etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

struct S3Request {
  S3Request(std::string m, std::string k, HeaderList h = {}, ByteView b = {})
      : method(std::move(m)), key(std::move(k)), headers(std::move(h)), body(b) {}
  std::string method;
  std::string key;     // the object key, not encoded; empty: the bucket itself
  HeaderList query;    // not encoded
  HeaderList headers;  // lowercase names; all are signed
  ByteView body;
  std::span<uint8_t>* receive_into = nullptr;  // as HttpRequest's
  uint64_t skip_on_200 = 0;
  size_t max_body = std::numeric_limits<size_t>::max();
};

struct S3Response {
  HttpResponse http;
  S3Error error;     // parsed from the body of a 3xx/4xx/5xx answer
  int attempts = 1;  // how many times we sent it
  // Whether this request was sent before (a retry of ours, or curl's own resend on a reset
  // kept-alive connection): an earlier send may have taken effect, even one answered 5xx (S3
  // says an InternalError may have been applied, and radosgw applies writes it then answers 500
  // under load).
  bool sent_before = false;
  long status() const { return http.status; }
};

// Where a request goes and what is signed.
struct Target {
  std::string url;
  std::string host;         // the Host header
  std::string signed_path;  // not encoded; the signer encodes it exactly as the URL is
};
Target BuildTarget(const Settings& settings, const std::string& bucket, const std::string& key,
                   const HeaderList& query);

class S3Client {
 public:
  explicit S3Client(StoreOptions options);

  // Sends one request, retrying idempotently. Any HTTP answer that is not retryable is returned
  // (a 404 or a 412 is the caller's to read); a Status when no answer came (endpoint unreachable,
  // TLS failure) or a retryable failure lasted through every attempt.
  Result<S3Response> Send(const S3Request& request) const;

  // The Status for an answer the caller did not expect; what says what was being done
  // ("reading s3://b/p/config").
  Status ErrorFor(const S3Response& response, const std::string& what) const;

  // Calls fn with every page of a ListObjectsV2 of prefix (delimiter "": none), following
  // continuation tokens; max_keys 0: the server's page size. Stops at the first non-OK from fn
  // and after the first page when first_page_only.
  Status List(const std::string& prefix, const std::string& delimiter, int max_keys,
              bool first_page_only, const std::function<Status(const ListPage&)>& fn) const;

  const StoreOptions& options() const { return options_; }
  // "<prefix>/" or "" (the prefix under which the repository's keys live).
  const std::string& base() const { return base_; }
  std::string ObjectKey(const ObjectId& id) const;
  std::string FileKey(const std::string& name) const { return base_ + name; }
  // "s3://bucket/key", for messages.
  std::string Describe(const std::string& key) const;
  void Log(const std::string& line) const;

 private:
  std::chrono::milliseconds Backoff(int attempt) const;
  // Why an attempt should be retried, or empty when its outcome is final.
  std::string RetryReason(const HttpOutcome& outcome, const S3Error& error) const;
  HttpRequest Sign(const S3Request& request, Status* status) const;
  Status GiveUp(const S3Request& request, const HttpOutcome& last, const std::string& reason,
                int attempts) const;

  StoreOptions options_;
  std::string base_;
  mutable HttpClient http_;
};

}  // namespace weightfs::storage::s3
