// The AWS shared files (~/.aws/credentials, ~/.aws/config) as far as weightfs reads them:
// "[section]" lines and "key = value" lines, comments starting with '#' or ';' (on a line of
// their own, or after a blank inside a value line), and in the config file nested settings:
//   s3 =
//     addressing_style = path
// which read as the key "s3.addressing_style". Keys are lowercased; a later value wins.
// Values may be secrets: a file's values are wiped when it is destroyed. Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "weightfs/core/status.h"

namespace weightfs::storage::s3 {

enum class AwsFileKind {
  kCredentials,  // sections "[NAME]" are profiles
  kConfig,       // "[profile NAME]" and "[default]" are profiles, "[services NAME]" services
};

using AwsSection = std::map<std::string, std::string>;

class AwsFile {
 public:
  AwsFile() = default;
  AwsFile(AwsFile&&) = default;
  AwsFile& operator=(AwsFile&&) = default;
  AwsFile(const AwsFile&) = delete;
  AwsFile& operator=(const AwsFile&) = delete;
  ~AwsFile();

  // The profile's settings; nullptr when the file does not define it.
  const AwsSection* Profile(const std::string& name) const { return Find(profiles_, name); }
  // A config file's "[services NAME]" section; nullptr when absent.
  const AwsSection* Services(const std::string& name) const { return Find(services_, name); }

  bool exists = false;  // false: there was no file at the path (read as empty)

 private:
  friend Result<AwsFile> ParseAwsFile(std::string_view, AwsFileKind, const std::string&);
  static const AwsSection* Find(const std::map<std::string, AwsSection>& m,
                                const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
  }
  std::map<std::string, AwsSection> profiles_;
  std::map<std::string, AwsSection> services_;
};

// Parses a file's text; path names it in errors ("PATH line N: ..."), which never quote a line.
Result<AwsFile> ParseAwsFile(std::string_view text, AwsFileKind kind, const std::string& path);

// Reads and parses the file at path; a missing file (or an empty path) is an empty AwsFile with
// exists == false. variable names the environment variable that moves the file, for messages.
Result<AwsFile> LoadAwsFile(const std::string& path, AwsFileKind kind, std::string_view variable);

}  // namespace weightfs::storage::s3
