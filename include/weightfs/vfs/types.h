// The VFS core's own vocabulary: who is calling, what a node looks like, what a directory entry
// holds. No FUSE, no struct stat, no errno here: the FUSE adapter converts in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"

namespace weightfs::vfs {

using NodeId = uint64_t;
constexpr NodeId kRootNode = 1;

struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  std::vector<uint32_t>
      groups;  // supplementary groups; filled only where a policy decides per caller
};

enum class NodeType { kFile, kDirectory, kSymlink, kFifo, kSocket, kCharDevice, kBlockDevice };

struct Attr {
  NodeId ino = 0;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits only
  uint32_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte blocks of data (st_blocks): holes hold none
  uint64_t rdev = 0;    // a device node's number (st_rdev, the kernel's dev_t)
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

struct EntryOut {
  Attr attr;
  double entry_timeout = 0;  // seconds the kernel may cache the name -> node mapping
  double attr_timeout = 0;   // seconds the kernel may cache the attributes
};

struct DirEntry {
  std::string name;
  Attr attr;
  uint64_t next_offset = 0;  // the offset to continue reading after this entry
};

// Which fields a SetAttr call changes.
struct SetAttrRequest {
  bool set_mode = false;
  uint32_t mode = 0;
  bool set_size = false;
  uint64_t size = 0;
  bool set_mtime = false;
  int64_t mtime_ns = 0;  // "now" is resolved by the adapter
  bool set_atime = false;
  int64_t atime_ns = 0;
  bool times_now = false;  // the times set are "now" (utimensat with NULL or UTIME_NOW), not given
  bool set_uid = false;
  uint32_t uid = 0;
  bool set_gid = false;
  uint32_t gid = 0;
};

struct OpenOut {
  uint64_t handle = 0;
  bool keep_cache = false;  // the content cannot have changed behind the kernel's page cache
};

struct StatFsOut {
  uint64_t block_size = 4096;
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;
  uint64_t blocks_avail = 0;
  uint64_t files = 0;
  uint64_t files_free = 0;
  uint32_t name_max = 255;
};

}  // namespace weightfs::vfs
