#include "weightfs/storage/object_store.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace weightfs::storage {
namespace {

// Most local filesystems limit one path component to 255 bytes.
constexpr size_t kMaxSegment = 255;
// The local store keeps objects under objects/; a named file there could shadow or replace one.
constexpr std::string_view kObjectsDir = "objects";

bool ValidSegmentChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Result<size_t> ObjectStore::ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest) {
  ASSIGN_OR_RETURN(Bytes data, GetRange(id, offset, dest.size()));
  const size_t n = std::min(data.size(), dest.size());
  if (n > 0) std::memcpy(dest.data(), data.data(), n);
  return n;
}

bool ObjectStore::DropCachedCopy(const ObjectId&) { return false; }

Result<std::unique_ptr<FileLock>> ObjectStore::TryLock(const std::string& name, bool) {
  return Unsupported("this store has no locks that the kernel releases (" + name + ")");
}

Result<std::optional<Bytes>> ObjectStore::ReadFileAtMost(const std::string& name, size_t max_size) {
  ASSIGN_OR_RETURN(std::optional<Bytes> data, ReadFile(name));
  if (data && data->size() > max_size) return FileTooLarge(name, data->size(), max_size);
  return data;
}

Status FileTooLarge(const std::string& name, uint64_t size, size_t max_size) {
  return Corruption(name + " is damaged: it is " + std::to_string(size) +
                    " bytes, and an intact one is at most " + std::to_string(max_size));
}

Status ValidateFileName(const std::string& name) {
  auto bad = [&](const char* why) {
    return InvalidArgument("invalid store file name '" + name + "': " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.front() == '/') return bad("must be relative");
  std::string_view rest = name;
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg.empty()) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' and '..' segments are not allowed");
    if (seg.size() > kMaxSegment) {
      return NameTooLong("invalid store file name '" + name +
                         "': a segment is longer than 255 bytes");
    }
    for (char c : seg) {
      if (!ValidSegmentChar(c)) return bad("segments may contain only [A-Za-z0-9._-]");
    }
    if (seg.data() == name.data() && seg == kObjectsDir) {
      return bad("'objects' is reserved for the object namespace");
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return Status::Ok();
}

}  // namespace weightfs::storage
