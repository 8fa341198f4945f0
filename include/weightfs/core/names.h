// Checks for the kinds of names and identifiers that more than one layer reads: the rule for each
// kind lives here once, so that every layer accepts and refuses the same names.
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "weightfs/core/status.h"

namespace weightfs {

// The longest role name.
inline constexpr size_t kMaxRoleNameLength = 64;

// True when s is non-empty and every character is a lowercase hex digit (0-9, a-f): the form
// object ids and snapshot ids are written in.
bool IsLowerHex(std::string_view s);

// A role name (of a policy's roles, bindings and default_role, and of a key slot): 1 to 64 ASCII
// letters, digits, '.', '_' or '-'. Roles are matched as strings and never used as file names,
// so a leading '.' or '-' is allowed. InvalidArgument naming the rule otherwise.
Status ValidateRoleName(std::string_view name);

}  // namespace weightfs
