#include "storage/s3_client.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

namespace weightfs::storage::s3 {
namespace {

constexpr size_t kMaxQuoted = 200;

std::string Clip(std::string s) {
  if (s.size() > kMaxQuoted) s = s.substr(0, kMaxQuoted) + "...";
  return s;
}

// "503 SlowDown (Please reduce your request rate.)"
std::string AnswerText(long status, const S3Error& error) {
  std::string s = std::to_string(status);
  if (!error.code.empty()) s += " " + Clip(error.code);
  if (!error.message.empty()) s += " (" + Clip(error.message) + ")";
  return s;
}

const char* kCheckCredentials = "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile";

}  // namespace

Target BuildTarget(const Settings& settings, const std::string& bucket, const std::string& key,
                   const HeaderList& query) {
  const std::string& endpoint = settings.endpoint;
  size_t scheme_end = endpoint.find("://");
  const std::string scheme =
      scheme_end == std::string::npos ? "https" : endpoint.substr(0, scheme_end);
  std::string host = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
  while (!host.empty() && host.back() == '/') host.pop_back();
  Target t;
  if (settings.path_style) {
    t.host = host;
    t.signed_path = "/" + bucket + (key.empty() ? "" : "/" + key);
  } else {
    t.host = bucket + "." + host;
    t.signed_path = "/" + key;
  }
  t.url = scheme + "://" + t.host + UriEncode(t.signed_path, true);
  char sep = '?';
  for (const auto& [k, v] : query) {
    t.url += sep + UriEncode(k, false) + "=" + UriEncode(v, false);
    sep = '&';
  }
  return t;
}

S3Client::S3Client(StoreOptions options)
    : options_(std::move(options)),
      base_(options_.location.prefix.empty() ? "" : options_.location.prefix + "/"),
      http_(options_.max_connections, options_.timeout) {}

std::string S3Client::ObjectKey(const ObjectId& id) const {
  const std::string hex = id.Hex();
  return base_ + "objects/" + hex.substr(0, 2) + "/" + hex;
}

std::string S3Client::Describe(const std::string& key) const {
  return "s3://" + options_.location.bucket + "/" + key;
}

void S3Client::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::chrono::milliseconds S3Client::Backoff(int attempt) const {
  // Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t base = std::max<int64_t>(1, options_.backoff_base.count());
  const int64_t cap = std::max<int64_t>(base, options_.backoff_max.count());
  int64_t ceiling = base;
  for (int i = 1; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, ceiling)(rng));
}

std::string S3Client::RetryReason(const HttpOutcome& outcome, const S3Error& error) const {
  switch (outcome.error) {
    case TransportError::kTimeout:
      return "no progress for " + std::to_string(options_.timeout.count()) + " ms (" +
             outcome.error_text + ")";
    case TransportError::kConnection:
      // A name that does not resolve will not resolve a moment later.
      return outcome.resolve_failed ? std::string() : outcome.error_text;
    case TransportError::kOther:
      return {};
    case TransportError::kNone:
      break;
  }
  const long status = outcome.response.status;
  const bool retry = (status >= 500 && status != 501) || status == 429 ||
                     (status == 400 && error.code == "RequestTimeout");
  return retry ? AnswerText(status, error) : std::string();
}

HttpRequest S3Client::Sign(const S3Request& request, Status* status) const {
  const Target target =
      BuildTarget(options_.settings, options_.location.bucket, request.key, request.query);
  SigningRequest signing{request.method, target.host,     target.signed_path,
                         request.query,  request.headers, Sha256Hex(request.body)};
  HttpRequest http{request.method,       target.url,          request.headers, request.body,
                   request.receive_into, request.skip_on_200, request.max_body};
  auto auth = SignV4(signing, options_.settings.credentials, options_.settings.region, "s3",
                     std::chrono::system_clock::now());
  if (!auth.ok()) {
    *status = auth.status();
    return http;
  }
  http.headers.insert(http.headers.end(), auth->begin(), auth->end());
  return http;
}

Result<S3Response> S3Client::Send(const S3Request& request) const {
  const int max_attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1;; ++attempt) {
    Status signed_ok;
    const HttpRequest http = Sign(request, &signed_ok);
    RETURN_IF_ERROR(signed_ok);
    HttpOutcome outcome = http_.Perform(http);
    const bool resent = outcome.response.sends > 1;
    S3Response response{std::move(outcome.response), {}, attempt, attempt > 1 || resent};
    if (outcome.error == TransportError::kNone && response.status() >= 300) {
      response.error = ParseS3Error(AsString(response.http.body));
    }
    const std::string reason = RetryReason(outcome, response.error);
    if (reason.empty()) {
      if (outcome.error != TransportError::kNone) {
        return GiveUp(request, outcome, outcome.error_text, attempt);
      }
      return response;
    }
    if (attempt >= max_attempts) {
      outcome.response = std::move(response.http);
      return GiveUp(request, outcome, reason, attempt);
    }
    const std::chrono::milliseconds delay = Backoff(attempt);
    Log("S3 " + request.method + " " + Describe(request.key) + ": " + reason + "; attempt " +
        std::to_string(attempt) + " of " + std::to_string(max_attempts) + ", retrying in " +
        std::to_string(delay.count()) + " ms");
    std::this_thread::sleep_for(delay);
  }
}

Status S3Client::List(const std::string& prefix, const std::string& delimiter, int max_keys,
                      bool first_page_only,
                      const std::function<Status(const ListPage&)>& fn) const {
  std::string token;
  for (;;) {
    S3Request request{"GET", ""};
    request.query = {{"list-type", "2"}, {"prefix", prefix}};
    if (!delimiter.empty()) request.query.emplace_back("delimiter", delimiter);
    if (max_keys > 0) request.query.emplace_back("max-keys", std::to_string(max_keys));
    if (!token.empty()) request.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(S3Response response, Send(request));
    const std::string what = "listing " + Describe(prefix);
    if (response.status() != 200) return ErrorFor(response, what);
    auto page = ParseListObjectsV2(AsString(response.http.body));
    if (!page.ok()) return page.status().WithContext(what);
    RETURN_IF_ERROR(fn(*page));
    if (!page->truncated || first_page_only) return Status::Ok();
    if (page->next_token == token) {
      return Corruption("S3 at " + options_.settings.endpoint +
                        " sent the same continuation token twice while " + what);
    }
    token = std::move(page->next_token);
  }
}

Status S3Client::GiveUp(const S3Request& request, const HttpOutcome& last,
                        const std::string& reason, int attempts) const {
  const std::string what = request.method + " " + Describe(request.key);
  const std::string tries = attempts > 1 ? " after " + std::to_string(attempts) + " attempts" : "";
  if (last.error == TransportError::kNone) {
    return IoError("S3 at " + options_.settings.endpoint + " kept failing " + what + tries +
                   ", the last time with " + reason +
                   ": the service is overloaded or failing; try again later");
  }
  return IoError("cannot reach the S3 endpoint " + options_.settings.endpoint + " (" + reason +
                 ") for " + what + tries +
                 ": check the endpoint (--s3-endpoint or AWS_ENDPOINT_URL) and the network");
}

Status S3Client::ErrorFor(const S3Response& response, const std::string& what) const {
  const Settings& s = options_.settings;
  const std::string& bucket = options_.location.bucket;
  const std::string& code = response.error.code;
  const std::string at = "S3 at " + s.endpoint;
  const std::string from = " (credentials from " + s.credentials_source + ")";
  if (code == "InvalidAccessKeyId") {
    return PermissionDenied(at + " does not know the access key id" + from +
                            " (InvalidAccessKeyId): " + kCheckCredentials);
  }
  if (code == "SignatureDoesNotMatch") {
    return PermissionDenied(at + " refused the request signature" + from +
                            " (SignatureDoesNotMatch): the secret access key is wrong; " +
                            kCheckCredentials);
  }
  if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
    return PermissionDenied(at + " refused the session token" + from + " (" + Clip(code) +
                            "): get fresh temporary credentials (AWS_SESSION_TOKEN or the "
                            "profile)");
  }
  if (code == "RequestTimeTooSkewed") {
    return PermissionDenied("this machine's clock is too far from " + at +
                            "'s (RequestTimeTooSkewed): fix the system clock (enable NTP) and "
                            "try again");
  }
  if (code == "NoSuchBucket") {
    return NotFound("bucket " + bucket + " does not exist at " + s.endpoint + "; create it first");
  }
  std::string region = response.http.Header("x-amz-bucket-region");
  if (region.empty()) region = response.error.region;
  if (response.status() == 301 || code == "PermanentRedirect" ||
      code == "AuthorizationHeaderMalformed") {
    if (!region.empty() && region != s.region) {
      return InvalidArgument("bucket " + bucket + " is in region " + Clip(region) + ", not " +
                             s.region + ": pass --s3-region " + Clip(region) +
                             " or set AWS_REGION");
    }
  }
  if (response.status() == 403) {
    return PermissionDenied(at + " denied " + what + " (" + AnswerText(403, response.error) + ")" +
                            from + ": " + kCheckCredentials +
                            ", and that the bucket policy allows it");
  }
  if (response.status() == 404) return NotFound(what + ": not found in the bucket");
  return IoError(at + " answered " + AnswerText(response.status(), response.error) + " to " + what);
}

}  // namespace weightfs::storage::s3
