// Names in JSON output. Paths and symlink targets are bytes (the mount accepts any name that is
// not "", "." or ".." and holds no '/' or NUL), while a JSON string must be UTF-8. A name that is
// valid UTF-8 is printed as it is; one that is not gets its bytes, losslessly, in an extra member
// KEY_base64 (standard base64 with padding), and KEY holds the name with every invalid byte
// replaced by U+FFFD, for display only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace weightfs::cli {

bool IsValidUtf8(const std::string& s);
std::string Base64(const std::string& bytes);
// Sets (*j)[key], and (*j)[key + "_base64"] when value is not valid UTF-8 (see above).
void PutName(nlohmann::json* j, const std::string& key, const std::string& value);

}  // namespace weightfs::cli
