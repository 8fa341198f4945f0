// Builds safetensors files in memory for tests, without a JSON library (the repo library links
// nlohmann_json privately). Layout follows the reference writer: 8-byte little-endian header
// length, JSON header padded with spaces to a multiple of 8, then tensor data back to back.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "weightfs/core/bytes.h"

namespace weightfs::testgen {

struct GenTensor {
  std::string name;
  std::string dtype = "U8";
  std::vector<uint64_t> shape;  // written as given ([] is a scalar)
  Bytes data;
};

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The 8-byte length followed by json, verbatim (for malformed-header tests).
inline Bytes SafetensorsPrefix(std::string_view json) {
  Bytes out;
  PutU64(&out, json.size());
  PutBytes(&out, AsBytes(json));
  return out;
}

// The header JSON for tensors laid out in order from data offset 0.
inline std::string SafetensorsJson(const std::vector<GenTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata = {}) {
  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) json += ",";
      first = false;
      json += JsonString(k) + ":" + JsonString(v);
    }
    json += "}";
  }
  uint64_t offset = 0;
  for (const GenTensor& t : tensors) {
    if (json.size() > 1) json += ",";
    json += JsonString(t.name) + ":{\"dtype\":" + JsonString(t.dtype) + ",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i > 0) json += ",";
      json += std::to_string(t.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + t.data.size()) + "]}";
    offset += t.data.size();
  }
  json += "}";
  while ((8 + json.size()) % 8 != 0) json += ' ';
  return json;
}

// A complete safetensors file.
inline Bytes MakeSafetensors(const std::vector<GenTensor>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  Bytes out = SafetensorsPrefix(SafetensorsJson(tensors, metadata));
  for (const GenTensor& t : tensors) PutBytes(&out, t.data);
  return out;
}

}  // namespace weightfs::testgen
