// AWS Signature Version 4 (header authorization) for S3 requests, written on the crypto layer:
// Debian has no SDK that signs V4, and curl's built-in signer has had S3 interoperability bugs.
// S3's rules apply: the path is encoded once (no double encoding, no dot-segment removal).
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"

namespace weightfs::storage::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What a request is signed with. Never printed: the secret and the session token are secrets.
struct Credentials {
  std::string access_key_id;
  SecretBytes secret_access_key;
  SecretBytes session_token;  // empty: long-term credentials
  Credentials Clone() const {
    return Credentials{access_key_id, secret_access_key.Clone(), session_token.Clone()};
  }
};

// One HTTP request as the signer sees it.
struct SigningRequest {
  std::string method;  // "GET", "PUT", "HEAD", "DELETE", "POST"
  // The Host header as sent: "bucket.s3.eu-west-1.amazonaws.com", "127.0.0.1:8080".
  std::string host;
  // The path, not yet percent-encoded: "/bucket/objects/ab/ab12...". Encoded once by the signer
  // (and must be sent encoded the same way: see UriEncode).
  std::string path;
  // Query parameters, not yet encoded; a parameter without a value has an empty value.
  HeaderList query;
  // The other headers that are sent and signed (range, if-match, content-type, x-amz-*), in
  // any case and order; values are trimmed and inner runs of spaces folded when signing.
  HeaderList headers;
  // Lowercase hex SHA-256 of the body (of the empty string for no body) or "UNSIGNED-PAYLOAD".
  std::string payload_sha256;
};

// The headers to add to the request: x-amz-date, x-amz-content-sha256, x-amz-security-token
// (only with a session token) and Authorization. now is the request's time (UTC).
Result<HeaderList> SignV4(const SigningRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::chrono::system_clock::time_point now);

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ kept, everything else as
// %XX (uppercase hex); '/' kept when keep_slash (paths), encoded otherwise (query parts).
std::string UriEncode(std::string_view s, bool keep_slash);

// Lowercase hex SHA-256 of data.
std::string Sha256Hex(ByteView data);

}  // namespace weightfs::storage::s3
