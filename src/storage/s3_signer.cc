// SigV4 header signing as S3 wants it. Everything a message names is a header name, a method
// or a region: never a header value, the secret, the session token or a derived key.
#include "weightfs/storage/s3_signer.h"

#include <string.h>  // NOLINT(modernize-deprecated-headers): explicit_bzero, not in <cstring>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

#include "storage/s3_signer_internal.h"
#include "weightfs/crypto/primitives.h"

namespace weightfs::storage::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

bool IsAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 7230 tchar: what a header name may hold.
bool IsTokenChar(char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Trimmed, with every inner run of blanks folded into one space.
std::string TrimAndFold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool blank_pending = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      blank_pending = !out.empty();
      continue;
    }
    if (blank_pending) out.push_back(' ');
    blank_pending = false;
    out.push_back(c);
  }
  return out;
}

bool IsScopeWord(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckRequestLine(const SigningRequest& request) {
  if (request.method.empty() ||
      request.method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
    return InvalidArgument("the S3 request method '" + request.method +
                           "' is not an uppercase HTTP method; use GET, PUT, HEAD, DELETE or POST");
  }
  bool host_ok = !request.host.empty();
  for (char c : request.host) host_ok = host_ok && !IsControl(c) && c != ' ' && c != '/';
  if (!host_ok) {
    return InvalidArgument("the S3 request host '" + request.host +
                           "' is empty or has a space, '/' or control character; pass the Host "
                           "header as sent, e.g. 'bucket.s3.us-east-1.amazonaws.com'");
  }
  if (request.path.empty() || request.path[0] != '/') {
    return InvalidArgument("the S3 request path does not start with '/'; pass '/' or '/KEY'");
  }
  const std::string_view hash = request.payload_sha256;
  if (hash != kUnsignedPayload && (hash.size() != 64 || !IsLowerHex(hash))) {
    return InvalidArgument(
        "the S3 request's payload hash is neither 64 lowercase hex digits nor UNSIGNED-PAYLOAD; "
        "pass Sha256Hex(body)");
  }
  return Status::Ok();
}

Status CheckScope(const Credentials& credentials, std::string_view region,
                  std::string_view service) {
  if (!IsScopeWord(region) || !IsScopeWord(service)) {
    return InvalidArgument("the S3 signing region '" + std::string(region) + "' or service '" +
                           std::string(service) +
                           "' is empty or has characters outside [A-Za-z0-9._-]; set a region "
                           "such as us-east-1");
  }
  bool id_ok = !credentials.access_key_id.empty();
  for (char c : credentials.access_key_id) {
    id_ok = id_ok && !IsControl(c) && std::string_view(" \t/,;=").find(c) == std::string::npos;
  }
  if (!id_ok) {
    return InvalidArgument(
        "the S3 access key id is empty or has a blank, '/', ',', ';', '=' or control character; "
        "check AWS_ACCESS_KEY_ID or aws_access_key_id in the profile");
  }
  if (credentials.secret_access_key.empty()) {
    return InvalidArgument(
        "the S3 secret access key is empty; set AWS_SECRET_ACCESS_KEY or aws_secret_access_key "
        "in the profile");
  }
  return Status::Ok();
}

// The headers SignV4 sets itself: a caller's copy would be sent twice or signed wrong.
Status CheckNotReserved(const HeaderList& headers) {
  static constexpr std::string_view kReserved[] = {"host", "x-amz-date", "x-amz-content-sha256",
                                                   "x-amz-security-token", "authorization"};
  for (const auto& [name, value] : headers) {
    const std::string lower = ToLower(name);
    for (std::string_view reserved : kReserved) {
      if (lower == reserved) {
        return InvalidArgument("the S3 request header '" + name +
                               "' is set by the signer; leave it out of the request's headers");
      }
    }
  }
  return Status::Ok();
}

Result<SecretBytes> HmacToSecret(ByteView key, std::string_view data) {
  ASSIGN_OR_RETURN(Bytes mac, crypto::HmacSha256(key, {AsBytes(data)}));
  SecretBytes out{ByteView(mac)};
  explicit_bzero(mac.data(), mac.size());
  return out;
}

std::string CanonicalRequestText(const SigningRequest& request,
                                 const internal::CanonicalHeaders& headers) {
  std::string out;
  out.append(request.method).push_back('\n');
  out.append(UriEncode(request.path, /*keep_slash=*/true)).push_back('\n');
  out.append(internal::CanonicalQuery(request.query)).push_back('\n');
  out.append(headers.block).push_back('\n');
  out.append(headers.signed_headers).push_back('\n');
  out.append(request.payload_sha256);
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
      out.push_back(c);
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(kHex[u >> 4]);
    out.push_back(kHex[u & 15]);
  }
  return out;
}

std::string Sha256Hex(ByteView data) {
  Result<Bytes> digest = crypto::Sha256(data);
  // SHA-256 over memory fails only when OpenSSL cannot allocate a context: no way to go on.
  WFS_CHECK(digest.ok());
  return ToHex(*digest);
}

namespace internal {

Result<std::string> AmzDate(std::chrono::system_clock::time_point now) {
  const int64_t secs = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  constexpr int64_t kEndOf9999 = 253402300799;
  struct tm tm {};
  const auto t = static_cast<time_t>(secs);
  if (secs < 0 || secs > kEndOf9999 || gmtime_r(&t, &tm) == nullptr) {
    return InvalidArgument(
        "the time to sign an S3 request with lies outside the years 1970 to 9999; check the "
        "system clock");
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf);
}

std::string CanonicalQuery(const HeaderList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [key, value] : query) {
    encoded.emplace_back(UriEncode(key, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(key).push_back('=');
    out.append(value);
  }
  return out;
}

Result<CanonicalHeaders> Canonicalize(const HeaderList& headers) {
  std::map<std::string, std::string> by_name;
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      // Not echoed: what is not a header name may be anything, a secret pasted wrongly too.
      return InvalidArgument(
          "an S3 request header name is empty or not an HTTP token; use letters, digits and '-'");
    }
    if (std::any_of(value.begin(), value.end(), IsControl)) {
      return InvalidArgument("the S3 request header '" + name +
                             "' has a control character in its value; remove it");
    }
    auto [it, inserted] = by_name.try_emplace(ToLower(name), TrimAndFold(value));
    if (!inserted) it->second.append(",").append(TrimAndFold(value));
  }
  CanonicalHeaders out;
  for (const auto& [name, value] : by_name) {
    out.block.append(name).append(":").append(value).push_back('\n');
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers.append(name);
  }
  return out;
}

Result<SecretBytes> SigningKey(const SecretBytes& secret, std::string_view date,
                               std::string_view region, std::string_view service) {
  constexpr std::string_view kPrefix = "AWS4";
  SecretBytes first(kPrefix.size() + secret.size());
  std::memcpy(first.data(), kPrefix.data(), kPrefix.size());
  if (!secret.empty()) std::memcpy(first.data() + kPrefix.size(), secret.data(), secret.size());
  ASSIGN_OR_RETURN(SecretBytes date_key, HmacToSecret(first.view(), date));
  ASSIGN_OR_RETURN(SecretBytes region_key, HmacToSecret(date_key.view(), region));
  ASSIGN_OR_RETURN(SecretBytes service_key, HmacToSecret(region_key.view(), service));
  return HmacToSecret(service_key.view(), "aws4_request");
}

Result<Signed> SignHeaders(const SigningRequest& request, const Credentials& credentials,
                           std::string_view region, std::string_view service,
                           std::string_view amz_date) {
  RETURN_IF_ERROR(CheckRequestLine(request));
  RETURN_IF_ERROR(CheckScope(credentials, region, service));
  if (amz_date.size() != 16) return InvalidArgument("the x-amz-date is not YYYYMMDDTHHMMSSZ");
  HeaderList all = request.headers;
  for (const auto& [name, value] : all) {
    if (ToLower(name) == "host") {
      return InvalidArgument("the S3 request carries a Host header besides its host; drop it");
    }
  }
  all.emplace_back("host", request.host);
  ASSIGN_OR_RETURN(CanonicalHeaders headers, Canonicalize(all));
  Signed out;
  out.canonical_request = CanonicalRequestText(request, headers);
  out.signed_headers = headers.signed_headers;
  const std::string_view date = amz_date.substr(0, 8);
  std::string scope =
      std::string(date) + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  ASSIGN_OR_RETURN(Bytes request_hash, crypto::Sha256(AsBytes(out.canonical_request)));
  out.string_to_sign = std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" + scope +
                       "\n" + ToHex(request_hash);
  ASSIGN_OR_RETURN(SecretBytes key,
                   SigningKey(credentials.secret_access_key, date, region, service));
  ASSIGN_OR_RETURN(Bytes signature, crypto::HmacSha256(key.view(), {AsBytes(out.string_to_sign)}));
  out.signature = ToHex(signature);
  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      scope + ", SignedHeaders=" + out.signed_headers +
                      ", Signature=" + out.signature;
  return out;
}

}  // namespace internal

Result<HeaderList> SignV4(const SigningRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::chrono::system_clock::time_point now) {
  RETURN_IF_ERROR(CheckNotReserved(request.headers));
  const ByteView token = credentials.session_token.view();
  if (std::any_of(token.begin(), token.end(),
                  [](uint8_t b) { return IsControl(static_cast<char>(b)); })) {
    return InvalidArgument(
        "the AWS session token has a control character; check AWS_SESSION_TOKEN or "
        "aws_session_token in the profile");
  }
  ASSIGN_OR_RETURN(std::string amz_date, internal::AmzDate(now));
  HeaderList added = {{"x-amz-date", amz_date}, {"x-amz-content-sha256", request.payload_sha256}};
  if (!token.empty()) added.emplace_back("x-amz-security-token", std::string(AsString(token)));
  SigningRequest full{request.method, request.host,    request.path,
                      request.query,  request.headers, request.payload_sha256};
  full.headers.insert(full.headers.end(), added.begin(), added.end());
  ASSIGN_OR_RETURN(internal::Signed signed_request,
                   internal::SignHeaders(full, credentials, region, service, amz_date));
  added.emplace_back("Authorization", std::move(signed_request.authorization));
  return added;
}

}  // namespace weightfs::storage::s3
