// Safetensors header parsing. The header is untrusted input (any file written to the
// filesystem), so every field is type-checked and nlohmann's exceptions never escape.
#include "weightfs/repo/safetensors.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

namespace weightfs::repo {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderJson = uint64_t{100} << 20;

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Names come from untrusted files: keep error messages short.
std::string Quoted(const std::string& name) {
  constexpr size_t kMax = 80;
  return "'" + (name.size() <= kMax ? name : name.substr(0, kMax) + "...") + "'";
}

bool IsNonNegativeInteger(const json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

Status TensorError(const std::string& name, const std::string& what) {
  return InvalidArgument("safetensors header: tensor " + Quoted(name) + ": " + what);
}

Result<TensorInfo> ParseTensor(const std::string& name, const json& v, uint64_t header_end) {
  if (!v.is_object()) return TensorError(name, "entry is not an object");
  TensorInfo t;
  t.name = name;

  auto dtype = v.find("dtype");
  if (dtype == v.end() || !dtype->is_string()) return TensorError(name, "missing string dtype");
  t.dtype = dtype->get<std::string>();

  auto shape = v.find("shape");
  if (shape == v.end() || !shape->is_array()) return TensorError(name, "missing shape array");
  for (const json& d : *shape) {
    if (!IsNonNegativeInteger(d)) {
      return TensorError(name, "shape has a dimension that is not a non-negative integer");
    }
    t.shape.push_back(d.get<uint64_t>());
  }

  auto offsets = v.find("data_offsets");
  if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2 ||
      !IsNonNegativeInteger((*offsets)[0]) || !IsNonNegativeInteger((*offsets)[1])) {
    return TensorError(name, "data_offsets must be [begin, end] of non-negative integers");
  }
  const uint64_t begin = (*offsets)[0].get<uint64_t>();
  const uint64_t end = (*offsets)[1].get<uint64_t>();
  if (begin > end) {
    return TensorError(
        name, "data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
  }
  if (end > std::numeric_limits<uint64_t>::max() - header_end) {
    return TensorError(name, "data_offsets end " + std::to_string(end) + " is out of range");
  }
  t.begin = begin + header_end;
  t.end = end + header_end;
  return t;
}

}  // namespace

std::optional<uint64_t> SafetensorsHeaderEnd(ByteView first_bytes) {
  if (first_bytes.size() < kSafetensorsProbeSize) return std::nullopt;
  const uint64_t n = LoadLe64(first_bytes.data());
  if (n < 2 || n > kMaxHeaderJson || first_bytes[8] != '{') return std::nullopt;
  return 8 + n;
}

Result<SafetensorsHeader> ParseSafetensorsHeader(ByteView header_bytes) {
  if (header_bytes.size() < 8) {
    return InvalidArgument("safetensors header truncated: " + std::to_string(header_bytes.size()) +
                           " bytes, the length alone is 8");
  }
  const uint64_t n = LoadLe64(header_bytes.data());
  if (n > kMaxHeaderJson) {
    return InvalidArgument("safetensors header declares " + std::to_string(n) +
                           " bytes of JSON, more than the 100 MiB limit");
  }
  if (header_bytes.size() - 8 < n) {
    return InvalidArgument("safetensors header truncated: declares " + std::to_string(n) +
                           " bytes of JSON, " + std::to_string(header_bytes.size() - 8) +
                           " present");
  }
  SafetensorsHeader header;
  header.header_end = 8 + n;
  const uint8_t* json_begin = header_bytes.data() + 8;
  try {
    const json root = json::parse(json_begin, json_begin + n);
    if (!root.is_object()) return InvalidArgument("safetensors header: JSON is not an object");
    for (const auto& [name, value] : root.items()) {
      if (name == "__metadata__") continue;
      ASSIGN_OR_RETURN(TensorInfo t, ParseTensor(name, value, header.header_end));
      header.tensors.push_back(std::move(t));
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("safetensors header: bad JSON: ") + e.what());
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  return header;
}

SafetensorsCutProbe ProbeSafetensorsCuts(ByteView prefix, bool at_end) {
  SafetensorsCutProbe probe;
  // The probe is the length and the JSON's opening brace; fewer bytes always read as "not
  // safetensors", so wait until all of them exist.
  if (prefix.size() < kSafetensorsProbeSize) {
    probe.decided = at_end;
    probe.needed = kSafetensorsProbeSize;
    return probe;
  }
  std::optional<uint64_t> header_end = SafetensorsHeaderEnd(prefix);
  if (!header_end) {
    probe.decided = true;
    return probe;
  }
  if (prefix.size() < *header_end) {
    probe.decided = at_end;  // a stream that ends inside its header is not safetensors
    probe.needed = *header_end;
    return probe;
  }
  probe.decided = true;
  Result<SafetensorsHeader> header = ParseSafetensorsHeader(prefix.first(*header_end));
  // A file that only looks like safetensors is chunked by content alone.
  if (!header.ok()) return probe;
  probe.cuts.push_back(header->header_end);
  for (const TensorInfo& t : header->tensors) {
    probe.cuts.push_back(t.begin);
    probe.cuts.push_back(t.end);
  }
  std::sort(probe.cuts.begin(), probe.cuts.end());
  probe.cuts.erase(std::unique(probe.cuts.begin(), probe.cuts.end()), probe.cuts.end());
  return probe;
}

}  // namespace weightfs::repo
