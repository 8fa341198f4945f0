#include "cli/daemon_hardening.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>  // explicit_bzero
#include <cstring>

namespace weightfs::cli {
namespace {

// A directory only this user can use: not a symlink, owned by the user, no group/other bits.
Status CheckPrivateDir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "checking " + dir);
  const std::string why = !S_ISDIR(st.st_mode)       ? "is not a directory (a symlink?)"
                          : st.st_uid != ::geteuid() ? "belongs to uid " + std::to_string(st.st_uid)
                          : (st.st_mode & 077) != 0  ? "is accessible to group or others"
                                                     : "";
  if (why.empty()) return Status::Ok();
  return PermissionDenied(
      dir + " " + why +
      ": another user could redirect or forge the daemon's pid record there; "
      "remove it (or set XDG_RUNTIME_DIR to a private directory) and try again");
}

Result<std::string> EnsurePrivateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return ErrnoStatus(errno, "creating " + dir);
  RETURN_IF_ERROR(CheckPrivateDir(dir));
  return dir;
}

}  // namespace

Status MakeNonDumpable() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return ErrnoStatus(errno, "prctl(PR_SET_DUMPABLE, 0)");
  return Status::Ok();
}

void ScrubEnvironment(const char* name) {
  char* value = std::getenv(name);
  if (!value) return;
  const size_t name_len = std::strlen(name);
  // getenv points just past "NAME=" inside the environment entry.
  char* entry = value - name_len - 1;
  const size_t entry_len = name_len + 1 + std::strlen(value);
  ::unsetenv(name);
  explicit_bzero(entry, entry_len);
}

Result<std::FILE*> OpenPrivateLog(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return ErrnoStatus(errno, "opening the log file " + path);
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "opening the log file " + path);
  }
  return f;
}

Result<std::string> PidRecordDir() {
  if (::geteuid() == 0) return EnsurePrivateDir("/run/weightfs");
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && xdg[0] == '/') {
    // The session's runtime directory (pam_systemd makes it 0700 and owned by the user).
    if (CheckPrivateDir(xdg).ok()) return EnsurePrivateDir(std::string(xdg) + "/weightfs");
  }
  return EnsurePrivateDir("/tmp/weightfs-" + std::to_string(::geteuid()));
}

Result<std::string> PidRecordFor(const std::string& mountpoint) {
  ASSIGN_OR_RETURN(std::string dir, PidRecordDir());
  std::string name = mountpoint;
  for (char& c : name) {
    if (c == '/') c = '!';
  }
  return dir + "/" + name + ".pid";
}

Status WritePidRecord(const std::string& path, pid_t pid) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "writing the pid record " + path);
  const std::string text = std::to_string(pid) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok) return ErrnoStatus(err, "writing the pid record " + path);
  return Status::Ok();
}

Result<pid_t> ReadPidRecord(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return pid_t{0};
    return ErrnoStatus(errno, "reading the pid record " + path);
  }
  struct stat st;
  char buf[32] = {0};
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid())
    n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n < 0) return PermissionDenied(path + " is not a pid record of this user");
  char* end = nullptr;
  const long pid = std::strtol(buf, &end, 10);
  if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0 || pid > (1L << 22)) return pid_t{0};
  return static_cast<pid_t>(pid);
}

}  // namespace weightfs::cli
