// What `weightfs mount` does to keep its secrets and its records from other local users (issue
// #10): no core dumps and no ptrace by the same user, the passphrase variable wiped, key
// material locked in RAM, a private log file, and pid records in a directory only the user can
// write, checked before each use.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>

#include "weightfs/core/status.h"

namespace weightfs::cli {

// prctl(PR_SET_DUMPABLE, 0): no core dump (which would hold the keys), no ptrace attach by the
// same user, and /proc/PID/{environ,mem,...} readable by root only.
Status MakeNonDumpable();

// Removes the variable `name` from the environment and wipes it where it lives, usually the
// process's initial environment block (what /proc/PID/environ shows): unsetenv alone only
// drops the pointer and leaves the bytes.
void ScrubEnvironment(const char* name);

// Opens path for appending; a new file is created with mode 0600 (the log names paths and tags
// that callers of a shared mount may not see).
Result<std::FILE*> OpenPrivateLog(const std::string& path);

// The directory holding the daemons' pid records: /run/weightfs for root, otherwise
// $XDG_RUNTIME_DIR/weightfs (when XDG_RUNTIME_DIR is a directory the user owns with mode 0700)
// or /tmp/weightfs-UID. Created 0700 when missing; refused (kPermissionDenied, saying why)
// unless it is a real directory (not a symlink) owned by the user with no group or other
// permissions, so another user can neither redirect the record nor forge a pid in it.
Result<std::string> PidRecordDir();
// The pid record of a mountpoint (an absolute, canonical path) inside PidRecordDir().
Result<std::string> PidRecordFor(const std::string& mountpoint);
// Writes pid to path (no symlinks followed, mode 0600).
Status WritePidRecord(const std::string& path, pid_t pid);
// The pid in path; 0 when there is none; kPermissionDenied for a record that is not a regular
// file of this user.
Result<pid_t> ReadPidRecord(const std::string& path);

}  // namespace weightfs::cli
