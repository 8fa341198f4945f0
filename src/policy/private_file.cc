#include "weightfs/policy/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace weightfs::policy {
namespace {

// Whether st (of what path names) could be changed by someone other than root and this user:
// empty when not, else why.
std::string OthersMayChange(const struct stat& st, bool directory) {
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return "belongs to uid " + std::to_string(st.st_uid);
  // In a sticky directory (/tmp) others may add entries but not replace ours, and every entry
  // on the way must be ours or root's anyway.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(directory && (st.st_mode & S_ISVTX))) {
    return "is writable by group or others";
  }
  return "";
}

// Every directory from / down to path's parent, as path spells them (following symlinks).
Status CheckDirectoriesAbove(const std::string& path, const std::string& file) {
  size_t slash = 0;
  while ((slash = path.find('/', slash)) != std::string::npos) {
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    ++slash;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "checking " + dir);
    if (std::string why = OthersMayChange(st, true); !why.empty()) {
      return PermissionDenied("the directory " + dir + " above the policy file " + file + " " +
                              why +
                              ": whoever can change it could replace the policy; chmod go-w it "
                              "or keep the policy elsewhere");
    }
  }
  return Status::Ok();
}

// Checks the directories above path, as given (made absolute) and resolved; returns the
// resolved path.
Result<std::string> CheckPathTo(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return ErrnoStatus(errno, "policy file " + path);
  const std::string canonical = resolved;
  std::free(resolved);
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof(cwd))) return ErrnoStatus(errno, "getcwd");
    absolute = std::string(cwd) + "/" + path;
  }
  RETURN_IF_ERROR(CheckDirectoriesAbove(absolute, path));
  if (canonical != absolute) RETURN_IF_ERROR(CheckDirectoriesAbove(canonical, path));
  return canonical;
}

// Reads the open file fd (st: its fstat) into *text when it passes the file checks; returns
// why it does not (empty: it does).
std::string ReadCheckedFile(int fd, const struct stat& st, std::string* text) {
  std::string why = !S_ISREG(st.st_mode) ? "is not a regular file" : OthersMayChange(st, false);
  if (why.empty() && st.st_size > static_cast<off_t>(kMaxPolicyBytes)) {
    why = "is larger than a policy may be (" + std::to_string(kMaxPolicyBytes) + " bytes)";
  }
  if (!why.empty()) return why;
  // One byte more than the file had: a file that grew while it was read is refused.
  text->resize(static_cast<size_t>(st.st_size) + 1);
  size_t got = 0;
  while (got < text->size()) {
    ssize_t n = ::read(fd, text->data() + got, text->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > static_cast<size_t>(st.st_size)) why = "changed while it was read";
  text->resize(std::min(got, static_cast<size_t>(st.st_size)));
  return why;
}

}  // namespace

Result<std::shared_ptr<const Policy>> LoadPrivatePolicyFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string canonical, CheckPathTo(path));
  int fd = ::open(canonical.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "opening policy file " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "policy file " + path);
  }
  std::string text;
  const std::string why = ReadCheckedFile(fd, st, &text);
  ::close(fd);
  if (!why.empty()) {
    const bool others =
        why.find("writable") != std::string::npos || why.find("uid") != std::string::npos;
    return PermissionDenied("policy file " + path + " " + why +
                            (others ? ": whoever can change it could give themselves any role; "
                                      "chmod go-w it (owned by root or the mounting user)"
                                    : ""));
  }
  return Policy::Load(text, path);
}

}  // namespace weightfs::policy
