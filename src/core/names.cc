#include "weightfs/core/names.h"

#include <algorithm>
#include <string>

namespace weightfs {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool IsLowerHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

Status ValidateRoleName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRoleNameLength ||
      !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return InvalidArgument("invalid role name '" + std::string(name) +
                           "': use 1 to 64 letters, digits, '.', '_' or '-'");
  }
  return Status::Ok();
}

}  // namespace weightfs
