// Reading integers out of untrusted JSON (the config, key slots, lock and lease records).
// nlohmann's get<T>() converts any number to any arithmetic type with a plain cast: an integer
// out of T's range silently wraps and a float out of range is undefined behaviour. Not part of the
// repo module's interface.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

namespace weightfs::repo::json_util {

// v as a T when it is a JSON integer within T's range; nullopt for floats, other types and
// integers out of range.
template <typename T>
std::optional<T> IntegerIn(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    const int64_t s = v.get<int64_t>();
    if (std::in_range<T>(s)) return static_cast<T>(s);
  }
  return std::nullopt;
}

// j[key] as a T when j is an object holding an integer in range there, else fallback.
template <typename T>
T IntegerOr(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  return IntegerIn<T>(*it).value_or(fallback);
}

// j[key] when j is an object holding a string there, else nullopt.
inline std::optional<std::string> StringAt(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace weightfs::repo::json_util
