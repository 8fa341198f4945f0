// The steps of SigV4 signing, apart: the canonical request, the string to sign and the signing
// key. SignV4 adds its own headers (x-amz-date, x-amz-content-sha256, x-amz-security-token) and
// then signs with SignHeaders; tests call SignHeaders directly to check the published test-suite
// vectors, which sign other header sets. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/storage/s3_signer.h"

namespace weightfs::storage::s3::internal {

// "20150830T123600Z": the request time in UTC, to the second; kInvalidArgument outside the
// years 1970..9999.
Result<std::string> AmzDate(std::chrono::system_clock::time_point now);

// The query, each key and value UriEncode'd (slashes too), sorted by encoded key then value,
// joined "k=v&k=v" (a parameter without value gives "k=").
std::string CanonicalQuery(const HeaderList& query);

struct CanonicalHeaders {
  std::string block;           // "name:value\n" per header name, names sorted
  std::string signed_headers;  // "host;range;x-amz-date"
};
// Lowercases names, trims values and folds inner runs of blanks to one space, joins the values
// of a repeated name with ',' in the order given, sorts by name. kInvalidArgument for a name
// that is not an HTTP token or a value with a control character (messages name the header, not
// its value).
Result<CanonicalHeaders> Canonicalize(const HeaderList& headers);

// The steps' results, for tests and for the Authorization header.
struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string signature;      // lowercase hex
  std::string authorization;  // "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
};

// Signs request.headers plus Host (request.host) exactly: nothing is added, so the caller puts
// x-amz-date (= amz_date) and whatever else is to be signed into request.headers.
// credentials.session_token is not used here. kInvalidArgument for a malformed request (a
// "host" among the headers included), never naming a secret.
Result<Signed> SignHeaders(const SigningRequest& request, const Credentials& credentials,
                           std::string_view region, std::string_view service,
                           std::string_view amz_date);

// HMAC chain "AWS4" + secret -> date (YYYYMMDD) -> region -> service -> "aws4_request".
Result<SecretBytes> SigningKey(const SecretBytes& secret, std::string_view date,
                               std::string_view region, std::string_view service);

}  // namespace weightfs::storage::s3::internal
