// Where an S3 repository lives and how to reach it: the s3://BUCKET[/PREFIX] argument, and the
// endpoint, region and credentials resolved the way AWS tools resolve them (command-line
// overrides, then the environment, then ~/.aws/credentials and ~/.aws/config). Secrets stay in
// SecretBytes and never appear in a message. Thread-compatible (plain values).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "weightfs/core/status.h"
#include "weightfs/storage/s3_signer.h"

namespace weightfs::storage::s3 {

// A repository in a bucket. prefix has no leading or trailing '/' and may be empty; objects
// live under "<prefix>/objects/...", named files under "<prefix>/<name>".
struct Location {
  std::string bucket;
  std::string prefix;
  // "s3://bucket/prefix", for messages.
  std::string Url() const;
};

// Whether a repository argument names S3 storage (starts with "s3://").
bool IsS3Url(std::string_view repo);
// kInvalidArgument with a sentence saying what is wrong (no bucket, a bucket name S3 refuses,
// empty or "." / ".." path segments, characters outside [A-Za-z0-9._-/]).
Result<Location> ParseS3Url(std::string_view url);

// What the command line may set; empty/nullopt: not given.
struct Overrides {
  std::string endpoint;            // --s3-endpoint
  std::string region;              // --s3-region
  std::optional<bool> path_style;  // --s3-path-style
};

struct Settings {
  // scheme://host[:port], no trailing '/': "https://s3.eu-west-1.amazonaws.com",
  // "http://127.0.0.1:8080".
  std::string endpoint;
  std::string region;  // "us-east-1" unless set
  // true: ENDPOINT/BUCKET/KEY; false: BUCKET.HOST/KEY (virtual-hosted, AWS's default).
  bool path_style = false;
  Credentials credentials;
  // Where the credentials came from, for messages: "environment", "profile 'x' in
  // /root/.aws/credentials". Never contains a secret.
  std::string credentials_source;
  Settings Clone() const {
    return Settings{endpoint, region, path_style, credentials.Clone(), credentials_source};
  }
};

// The process environment and home directory, a seam for tests.
struct Environment {
  std::function<std::optional<std::string>(const std::string& name)> get;
  std::string home;
};
Environment ProcessEnvironment();

// Resolves the settings. Precedence: overrides, then AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
// AWS_REGION / AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
// AWS_SESSION_TOKEN), then the profile AWS_PROFILE (default "default") in
// AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials: aws_access_key_id,
// aws_secret_access_key, aws_session_token) and AWS_CONFIG_FILE (default ~/.aws/config, section
// "[profile NAME]" or "[default]": region, endpoint_url, s3 addressing_style). Without an
// endpoint: https://s3.REGION.amazonaws.com. Path style defaults to true for endpoints that are
// not amazonaws.com hosts (local servers) and false for AWS. kPermissionDenied with a sentence
// naming the variables and files looked at when no credentials are found; kInvalidArgument for
// a malformed endpoint or a named profile that does not exist.
Result<Settings> ResolveSettings(const Overrides& overrides, const Environment& env);

}  // namespace weightfs::storage::s3
