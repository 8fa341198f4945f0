// s3:// locations and the process environment (ResolveSettings is in s3_settings.cc).
#include "weightfs/storage/s3_config.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace weightfs::storage::s3 {
namespace {

constexpr std::string_view kScheme = "s3://";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsIpv4Like(std::string_view s) {
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

Status CheckBucket(std::string_view bucket, std::string_view url) {
  bool ok = bucket.size() >= 3 && bucket.size() <= 63 && IsLowerAlnum(bucket.front()) &&
            IsLowerAlnum(bucket.back()) && bucket.find("..") == std::string_view::npos &&
            !IsIpv4Like(bucket);
  for (char c : bucket) ok = ok && (IsLowerAlnum(c) || c == '.' || c == '-');
  if (ok) return Status::Ok();
  return InvalidArgument("the bucket name '" + std::string(bucket) + "' in " + std::string(url) +
                         " is not one S3 accepts: use 3 to 63 lowercase letters, digits, '.' and "
                         "'-', starting and ending with a letter or digit");
}

Status CheckPrefix(std::string_view prefix, std::string_view url) {
  size_t start = 0;
  while (start <= prefix.size()) {
    size_t end = prefix.find('/', start);
    if (end == std::string_view::npos) end = prefix.size();
    const std::string_view segment = prefix.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return InvalidArgument("the path of " + std::string(url) +
                             " has an empty, '.' or '..' segment; write s3://BUCKET/DIR/SUBDIR");
    }
    for (char c : segment) {
      if (!IsLowerAlnum(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '_' && c != '-') {
        return InvalidArgument("the path of " + std::string(url) +
                               " has a character outside A-Z a-z 0-9 . _ - and '/'; rename the "
                               "prefix");
      }
    }
    start = end + 1;
  }
  return Status::Ok();
}

}  // namespace

std::string Location::Url() const {
  return std::string(kScheme) + bucket + (prefix.empty() ? "" : "/" + prefix);
}

bool IsS3Url(std::string_view repo) { return repo.substr(0, kScheme.size()) == kScheme; }

Result<Location> ParseS3Url(std::string_view url) {
  if (!IsS3Url(url)) {
    return InvalidArgument("'" + std::string(url) +
                           "' is not an S3 location; write s3://BUCKET[/PREFIX]");
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  Location location;
  location.bucket = std::string(rest.substr(0, slash));
  if (location.bucket.empty()) {
    return InvalidArgument(std::string(url) + " names no bucket; write s3://BUCKET[/PREFIX]");
  }
  RETURN_IF_ERROR(CheckBucket(location.bucket, url));
  if (slash == std::string_view::npos) return location;
  std::string_view prefix = rest.substr(slash + 1);
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty() && rest.size() == slash + 1) return location;  // "s3://bucket/"
  RETURN_IF_ERROR(CheckPrefix(prefix, url));
  location.prefix = std::string(prefix);
  return location;
}

Environment ProcessEnvironment() {
  Environment env;
  env.get = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
  if (home != nullptr && home[0] != '\0') {
    env.home = home;
    return env;
  }
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr) {
    env.home = found->pw_dir;
  }
  return env;
}

}  // namespace weightfs::storage::s3
