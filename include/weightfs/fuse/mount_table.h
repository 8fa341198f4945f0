// Reading the kernel's mount tables (/proc/self/mountinfo, /proc/mounts), whose path fields
// escape space, tab, newline and backslash as a backslash and three octal digits ("\040").
#pragma once

#include <string>
#include <string_view>

namespace weightfs::fuse {

// Undoes the octal escapes of a mount table field. A backslash not followed by three octal
// digits naming a byte (\000 to \377) is kept as it is; never throws.
std::string UnescapeMountField(std::string_view field);

// The fields of one /proc/self/mountinfo line this code needs.
struct MountInfoLine {
  std::string device;       // "major:minor"
  std::string mount_point;  // unescaped
};
// Parses the first five fields of a mountinfo line; false when it has fewer.
bool ParseMountInfoLine(const std::string& line, MountInfoLine* out);

// The "major:minor" of the topmost mount at mount_point (an unescaped real path) in
// /proc/self/mountinfo; empty when nothing is mounted there.
std::string MountedDevice(const std::string& mount_point);

// Whether mount_point (an unescaped real path) is a mount point now.
inline bool IsMountPoint(const std::string& mount_point) {
  return !MountedDevice(mount_point).empty();
}

// Whether path (any path; symlinks are resolved) is a directory on a running weightfs mount:
// its root or below it, by /proc/mounts.
bool OnWeightfsMount(const std::string& path);

}  // namespace weightfs::fuse
