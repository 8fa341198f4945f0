// weightfs mount, weightfs umount.
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/common.h"
#include "cli/daemon_hardening.h"
#include "cli/mount_daemon.h"
#include "weightfs/fuse/mount_table.h"

namespace weightfs::cli {
namespace {

// A daemon that has exited but not yet been reaped (a zombie: its parent is init, which may
// take a while) has finished: it released everything before exiting.
bool ProcessAlive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z');
}

int RunUmount(const std::string& mountpoint_arg, double timeout_s) {
  const std::string mountpoint = RealPath(mountpoint_arg);
  // A record another user could have written is not trusted: unmount, but do not wait on it.
  pid_t pid = 0;
  auto pid_file = PidRecordFor(mountpoint);
  auto recorded = pid_file.ok() ? ReadPidRecord(*pid_file) : Result<pid_t>(pid_file.status());
  if (recorded.ok()) {
    pid = *recorded;
  } else {
    std::cerr << "weightfs: warning: " << recorded.status().message() << "\n";
  }
  // Already unmounted, with its daemon still retrying its final commit: wait for that daemon
  // (again) rather than fail.
  const bool retrying = pid > 0 && ProcessAlive(pid) && !fuse::IsMountPoint(mountpoint);
  if (!retrying) {
    pid_t child = ::fork();
    if (child == 0) {
      ::execlp("fusermount3", "fusermount3", "-u", mountpoint.c_str(), static_cast<char*>(nullptr));
      std::perror("weightfs: running fusermount3");
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Fail(
          Busy("could not unmount " + mountpoint + " (is it busy? close the programs using it)"));
    }
  }
  if (pid <= 0) {
    std::cerr << "weightfs: unmounted " << mountpoint
              << ", but no daemon pid was recorded; not waiting for it\n";
    return kExitOk;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  const std::string failed_file = FailedCommitFileFor(*pid_file);
  while (ProcessAlive(pid)) {
    if (auto failed = ReadFailedCommit(failed_file, pid)) {
      // Never exit 0 while what was written is not committed.
      std::cerr << "weightfs: unmounted " << mountpoint
                << ", but the final commit failed: " << failed->second
                << "\nweightfs: the daemon (pid " << pid
                << ") keeps the changes and retries until the commit succeeds (free space on the "
                   "repository's "
                   "file system); `weightfs umount "
                << mountpoint << "` again waits for it\n";
      return failed->first != kExitOk ? failed->first : kExitFailure;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(Busy("the daemon (pid " + std::to_string(pid) + ") is still committing after " +
                       std::to_string(static_cast<int>(timeout_s)) + " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return kExitOk;
}

void AddMountCommand(CLI::App* app, int* exit_code) {
  auto ma = std::make_shared<MountArgs>();
  CLI::App* mount = app->add_subcommand(
      "mount", "Mount a repository as a live, read-write (or read-only) directory");
  mount->add_option("REPO", ma->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  mount->add_option("MOUNTPOINT", ma->mountpoint, "Existing empty directory")->required();
  ma->unlock.AddTo(mount);
  mount->add_flag("-f,--foreground", ma->foreground, "Stay in the foreground (logs go to stderr)");
  mount->add_flag("--read-only", ma->read_only, "Mount read-only (takes no writer lock)");
  mount->add_flag("--allow-other", ma->allow_other,
                  "Let other users access the mount; each request is decided for the calling user "
                  "by the policy "
                  "(needs bindings or a default_role), never beyond the key slot's role");
  mount->add_flag("--no-mode-check", ma->no_mode_check,
                  "Do not enforce mode bits (owner/group/other, sticky, setgid): only the policy "
                  "decides; owners "
                  "are still stored and chown still follows POSIX");
  mount->add_option(
      "--policy", ma->policy.policy_file,
      "Enforce this local policy file instead of the repository's (needs an admin-role slot; "
      "SIGHUP reloads it)");
  mount->add_option(
      "--audit-log", ma->policy.audit_log,
      "Append one JSON line per denied request (and allowed ones with --audit-all) to FILE");
  mount->add_flag("--audit-all", ma->policy.audit_all, "Audit allowed requests too");
  mount
      ->add_option("--refresh", ma->refresh_s,
                   "Seconds until a snapshot or (read-only mounts) a live tree committed "
                   "elsewhere shows; 0: never (default 2)")
      ->check(CLI::Range(0.0, 86400.0));
  mount->add_option("--threads", ma->threads, "Maximum FUSE worker threads")
      ->check(CLI::Range(1, 256));
  mount->add_option("-o", ma->fuse_options, "FUSE mount option (repeatable; comma lists allowed)")
      ->delimiter(',');
  mount->add_option("--log-file", ma->log_file,
                    "Append the daemon's log to FILE (default: syslog)");
  mount->add_option("--commit-interval", ma->commit_interval, "Seconds between batched commits")
      ->check(CLI::Range(0.05, 3600.0));
  mount
      ->add_option("--cache-size", ma->cache_mib,
                   "MiB of memory for file data: decrypted chunks read ahead and cached, and "
                   "unsealed writes")
      ->check(CLI::Range(16, 1 << 20));
  mount
      ->add_option("--read-threads", ma->read_threads,
                   "Workers that read and decrypt chunks ahead of readers (default 4; 16 for an "
                   "S3 repository, whose requests wait on the network)")
      ->check(CLI::Range(1, 64));
  mount->add_flag("--no-readahead-tweak", ma->no_readahead,
                  "Do not raise the mount's read_ahead_kb");
  mount->add_flag("--debug-fuse", ma->debug, "Print every FUSE request (with -f)");
  mount
      ->add_option(
          "--versions-dir", ma->versions_dir,
          "The .versions/ snapshot tree: hidden (default; reachable by name), visible or disabled")
      ->check(CLI::IsMember({"hidden", "visible", "disabled"}));
  mount->add_option(
      "--snapshot-interval", ma->snapshot_interval,
      "Take a snapshot every DURATION (e.g. 30m, 6h) when something changed; default none");
  mount->callback([=] { *exit_code = RunMount(*ma); });
}

void AddUmountCommand(CLI::App* app, int* exit_code) {
  auto mountpoint = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(300);
  CLI::App* umount =
      app->add_subcommand("umount", "Unmount and wait until the daemon has committed and exited");
  umount->add_option("MOUNTPOINT", *mountpoint, "Mounted directory")->required();
  umount->add_option("--timeout", *timeout, "Seconds to wait for the daemon");
  umount->callback([=] { *exit_code = RunUmount(*mountpoint, *timeout); });
}

}  // namespace

void AddMountCommands(CLI::App* app, int* exit_code) {
  AddMountCommand(app, exit_code);
  AddUmountCommand(app, exit_code);
}

}  // namespace weightfs::cli
