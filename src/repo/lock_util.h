// Helpers of the lock records (locks/writer, locks/gc, locks/lease-*): who holds a record and
// whether that process still runs. Not part of the repo module's interface.
#pragma once

#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <string>

namespace weightfs::repo::lock_util {

inline std::string HostName() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// Whether pid runs on this host. A zombie (exited, not yet reaped by its parent, which for a
// daemon is init and may take a while) has finished and released everything: not alive.
inline bool ProcessAlive(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z');
}

inline std::string UtcTime(int64_t seconds) {
  std::time_t t = seconds;
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace weightfs::repo::lock_util
