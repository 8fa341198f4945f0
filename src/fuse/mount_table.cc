#include "weightfs/fuse/mount_table.h"

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace weightfs::fuse {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] <= '3' && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

bool ParseMountInfoLine(const std::string& line, MountInfoLine* out) {
  std::istringstream fields(line);
  std::string id, parent, device, root, point;
  if (!(fields >> id >> parent >> device >> root >> point)) return false;
  out->device = device;
  out->mount_point = UnescapeMountField(point);
  return true;
}

std::string MountedDevice(const std::string& mount_point) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  MountInfoLine parsed;
  while (std::getline(in, line)) {
    // The last one is on top.
    if (ParseMountInfoLine(line, &parsed) && parsed.mount_point == mount_point)
      found = parsed.device;
  }
  return found;
}

bool OnWeightfsMount(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return false;
  const std::string c = resolved;
  std::free(resolved);
  std::ifstream mounts("/proc/mounts");
  std::string device, mountpoint, type, rest;
  while (mounts >> device >> mountpoint >> type && std::getline(mounts, rest)) {
    if (type != "fuse.weightfs") continue;
    const std::string mp = UnescapeMountField(mountpoint);
    if (c == mp ||
        (c.size() > mp.size() && c.compare(0, mp.size(), mp) == 0 && c[mp.size()] == '/'))
      return true;
  }
  return false;
}

}  // namespace weightfs::fuse
