// ResolveSettings: the endpoint, region, addressing style and credentials, with the precedence
// of the AWS CLI (command line, environment, shared files). Secrets from the environment or the
// files are copied into SecretBytes and their other copies wiped; no message quotes one.
#include <string.h>  // NOLINT(modernize-deprecated-headers): explicit_bzero, not in <cstring>

#include "storage/aws_ini.h"
#include "weightfs/storage/s3_config.h"

namespace weightfs::storage::s3 {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// A variable's value; unset and empty are alike.
std::optional<std::string> Var(const Environment& env, const std::string& name) {
  if (!env.get) return std::nullopt;
  std::optional<std::string> value = env.get(name);
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

void Wipe(std::optional<std::string>* value) {
  if (value->has_value()) explicit_bzero((*value)->data(), (*value)->size());
}

// The value of key in section, or nullptr when absent or empty.
const std::string* Setting(const AwsSection* section, const std::string& key) {
  if (section == nullptr) return nullptr;
  auto it = section->find(key);
  return it == section->end() || it->second.empty() ? nullptr : &it->second;
}

// The profile and the two shared files.
struct Shared {
  std::string profile = "default";
  bool profile_named = false;  // by AWS_PROFILE
  std::string credentials_path;
  std::string config_path;
  AwsFile credentials;
  AwsFile config;

  const AwsSection* CredentialsProfile() const { return credentials.Profile(profile); }
  const AwsSection* ConfigProfile() const { return config.Profile(profile); }
  std::string In(const std::string& path) const {
    return "profile '" + profile + "' in " + (path.empty() ? "(no home directory)" : path);
  }
  std::string CredentialsFile() const {
    return credentials_path.empty() ? "~/.aws/credentials (no home directory)" : credentials_path;
  }
  std::string ConfigFile() const {
    return config_path.empty() ? "~/.aws/config (no home directory)" : config_path;
  }
  std::string Files() const { return CredentialsFile() + " and " + ConfigFile(); }
};

std::string FilePath(const Environment& env, const std::string& variable, const char* name) {
  std::optional<std::string> set = Var(env, variable);
  if (set.has_value()) {
    if (set->substr(0, 2) == "~/" && !env.home.empty()) return env.home + set->substr(1);
    return *set;
  }
  return env.home.empty() ? "" : env.home + "/.aws/" + name;
}

Result<Shared> LoadShared(const Environment& env) {
  Shared shared;
  if (std::optional<std::string> named = Var(env, "AWS_PROFILE")) {
    shared.profile = *named;
    shared.profile_named = true;
  }
  shared.credentials_path = FilePath(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  shared.config_path = FilePath(env, "AWS_CONFIG_FILE", "config");
  ASSIGN_OR_RETURN(shared.credentials,
                   LoadAwsFile(shared.credentials_path, AwsFileKind::kCredentials,
                               "AWS_SHARED_CREDENTIALS_FILE"));
  ASSIGN_OR_RETURN(shared.config,
                   LoadAwsFile(shared.config_path, AwsFileKind::kConfig, "AWS_CONFIG_FILE"));
  if (shared.profile_named && shared.CredentialsProfile() == nullptr &&
      shared.ConfigProfile() == nullptr) {
    return InvalidArgument("AWS_PROFILE names the profile '" + shared.profile +
                           "', which neither " + shared.CredentialsFile() + " nor " +
                           shared.ConfigFile() + " defines; add it or unset AWS_PROFILE");
  }
  return shared;
}

bool IsRegionName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> ResolveRegion(const Overrides& overrides, const Environment& env,
                                  const Shared& shared) {
  std::string region = "us-east-1";
  std::string source = "the default";
  if (!overrides.region.empty()) {
    region = overrides.region;
    source = "--s3-region";
  } else if (std::optional<std::string> v = Var(env, "AWS_REGION")) {
    region = *v;
    source = "AWS_REGION";
  } else if (std::optional<std::string> d = Var(env, "AWS_DEFAULT_REGION")) {
    region = *d;
    source = "AWS_DEFAULT_REGION";
  } else if (const std::string* r = Setting(shared.ConfigProfile(), "region")) {
    region = *r;
    source = shared.In(shared.config_path);
  }
  if (!IsRegionName(region)) {
    return InvalidArgument("the S3 region '" + region + "' from " + source +
                           " is not a region name; set one such as us-east-1");
  }
  return region;
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

bool IsPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

// HOST[:PORT], HOST a name, an IPv4 address or a bracketed IPv6 address.
bool IsAuthority(std::string_view authority) {
  if (authority.empty()) return false;
  std::string_view host = authority;
  std::string_view after;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : authority.substr(1, close - 1)) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
      if (!ok) return false;
    }
    after = authority.substr(close + 1);
    host = {};
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    after = authority.substr(colon);
  }
  for (char c : host) {
    if (!IsHostChar(c)) return false;
  }
  if (authority[0] != '[' && host.empty()) return false;
  return after.empty() || (after[0] == ':' && IsPort(after.substr(1)));
}

// "SCHEME://AUTHORITY[/]" -> "scheme://AUTHORITY".
Result<std::string> NormalizeEndpoint(const std::string& value, const std::string& source) {
  const size_t sep = value.find("://");
  const std::string scheme = Lower(value.substr(0, sep));
  std::string_view authority;
  if (sep != std::string::npos) authority = std::string_view(value).substr(sep + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if ((scheme == "http" || scheme == "https") && IsAuthority(authority)) {
    return scheme + "://" + std::string(authority);
  }
  // User information ("user:password@") may hold a secret: such a value is not repeated.
  const std::string shown = value.find('@') == std::string::npos ? "'" + value + "' " : "";
  return InvalidArgument("the S3 endpoint " + shown + "from " + source +
                         " is not http(s)://HOST[:PORT] without a path; set it like "
                         "https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000");
}

Result<std::string> ResolveEndpoint(const Overrides& overrides, const Environment& env,
                                    const Shared& shared, const std::string& region) {
  if (!overrides.endpoint.empty()) return NormalizeEndpoint(overrides.endpoint, "--s3-endpoint");
  const AwsSection* profile = shared.ConfigProfile();
  const std::optional<std::string> ignore = Var(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  const std::string* ignore_in_profile = Setting(profile, "ignore_configured_endpoint_urls");
  const bool ignored = ignore.has_value()
                           ? Lower(*ignore) == "true"
                           : ignore_in_profile != nullptr && Lower(*ignore_in_profile) == "true";
  if (!ignored) {
    for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
      if (std::optional<std::string> v = Var(env, name)) return NormalizeEndpoint(*v, name);
    }
    const std::string* services = Setting(profile, "services");
    const AwsSection* service_section =
        services != nullptr ? shared.config.Services(*services) : nullptr;
    if (const std::string* url = Setting(service_section, "s3.endpoint_url")) {
      return NormalizeEndpoint(*url, "services '" + *services + "' in " + shared.config_path);
    }
    if (const std::string* url = Setting(profile, "endpoint_url")) {
      return NormalizeEndpoint(*url, shared.In(shared.config_path));
    }
  }
  const char* domain = region.substr(0, 3) == "cn-" ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://s3." + region + domain;
}

bool IsAwsEndpoint(std::string_view endpoint) {
  std::string_view host = endpoint.substr(endpoint.find("://") + 3);
  host = host.substr(0, host.find(':'));
  const std::string lower = Lower(host);
  return lower == "amazonaws.com" || EndsWith(lower, ".amazonaws.com") ||
         EndsWith(lower, ".amazonaws.com.cn");
}

Result<bool> ResolvePathStyle(const Overrides& overrides, const Shared& shared,
                              const std::string& endpoint) {
  if (overrides.path_style.has_value()) return *overrides.path_style;
  if (const std::string* style = Setting(shared.ConfigProfile(), "s3.addressing_style")) {
    const std::string lower = Lower(*style);
    if (lower == "path") return true;
    if (lower == "virtual") return false;
    if (lower != "auto") {
      return InvalidArgument("the s3 addressing_style '" + *style + "' of " +
                             shared.In(shared.config_path) +
                             " is not path, virtual or auto; set one of them");
    }
  }
  return !IsAwsEndpoint(endpoint);
}

// Static keys from one profile; false when it has none.
Result<bool> FromProfile(const AwsSection* section, const std::string& where, Settings* out) {
  const std::string* id = Setting(section, "aws_access_key_id");
  const std::string* secret = Setting(section, "aws_secret_access_key");
  if (id == nullptr && secret == nullptr) return false;
  if (id == nullptr || secret == nullptr) {
    return InvalidArgument(where + " has " +
                           (id != nullptr ? "aws_access_key_id but no aws_secret_access_key"
                                          : "aws_secret_access_key but no aws_access_key_id") +
                           "; add the missing key");
  }
  const std::string* token = Setting(section, "aws_session_token");
  out->credentials = Credentials{*id, SecretBytes(AsBytes(*secret)),
                                 token != nullptr ? SecretBytes(AsBytes(*token)) : SecretBytes()};
  out->credentials_source = where;
  return true;
}

Status NoCredentials(const Shared& shared) {
  std::string message =
      "no S3 credentials found in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
      "nor in profile '" +
      shared.profile + "' of " + shared.Files() +
      "; set those variables or add aws_access_key_id and "
      "aws_secret_access_key to the profile";
  for (const char* key : {"role_arn", "credential_process", "sso_session", "sso_start_url",
                          "web_identity_token_file"}) {
    if (Setting(shared.ConfigProfile(), key) != nullptr) {
      message +=
          " (weightfs does not run role_arn, SSO or credential_process profiles: export "
          "keys, e.g. with 'aws configure export-credentials --format env')";
      break;
    }
  }
  return PermissionDenied(message);
}

Status ResolveCredentials(const Environment& env, const Shared& shared, Settings* out) {
  std::optional<std::string> id = Var(env, "AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = Var(env, "AWS_SECRET_ACCESS_KEY");
  std::optional<std::string> token = Var(env, "AWS_SESSION_TOKEN");
  if (id.has_value() && secret.has_value()) {
    out->credentials = Credentials{*id, SecretBytes(AsBytes(*secret)),
                                   token ? SecretBytes(AsBytes(*token)) : SecretBytes()};
    out->credentials_source = "environment";
  }
  const bool partial = id.has_value() != secret.has_value();
  const char* missing = secret.has_value() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY";
  const char* present = secret.has_value() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID";
  const bool from_env = id.has_value() && secret.has_value();
  Wipe(&secret);
  Wipe(&token);
  if (from_env) return Status::Ok();
  if (partial) {
    return InvalidArgument(std::string(present) + " is set but " + missing +
                           " is not; set both, or neither to use profile '" + shared.profile + "'");
  }
  for (const auto& [section, path] :
       {std::pair{shared.CredentialsProfile(), &shared.credentials_path},
        std::pair{shared.ConfigProfile(), &shared.config_path}}) {
    ASSIGN_OR_RETURN(bool found, FromProfile(section, shared.In(*path), out));
    if (found) return Status::Ok();
  }
  return NoCredentials(shared);
}

}  // namespace

Result<Settings> ResolveSettings(const Overrides& overrides, const Environment& env) {
  ASSIGN_OR_RETURN(Shared shared, LoadShared(env));
  Settings settings;
  ASSIGN_OR_RETURN(settings.region, ResolveRegion(overrides, env, shared));
  ASSIGN_OR_RETURN(settings.endpoint, ResolveEndpoint(overrides, env, shared, settings.region));
  ASSIGN_OR_RETURN(settings.path_style, ResolvePathStyle(overrides, shared, settings.endpoint));
  RETURN_IF_ERROR(ResolveCredentials(env, shared, &settings));
  return settings;
}

}  // namespace weightfs::storage::s3
