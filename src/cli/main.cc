// weightfs: the command line. Each subcommand is a thin layer over the repo library.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/common.h"

// Makes sure descriptors 0-2 are open, so no file or /dev/fuse lands on them and is later
// clobbered when the daemon points its standard streams at /dev/null (CI runs without stdin).
static void ReserveStandardFds() {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      int n = open("/dev/null", O_RDWR);
      if (n > 2) close(n);
    }
  }
}

namespace {

int Run(int argc, char** argv) {
  using namespace weightfs::cli;
  CLI::App app{"weightfs: an encrypted, versioned repository of model weights"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "weightfs 0.1.0 (repository format v1)");
  int exit_code = kExitOk;
  AddRepoCommands(&app, &exit_code);
  AddDataCommands(&app, &exit_code);
  AddInfoCommands(&app, &exit_code);
  AddMountCommands(&app, &exit_code);
  AddHistoryCommands(&app, &exit_code);
  AddPolicyCommands(&app, &exit_code);
  AddCopyCommands(&app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}

}  // namespace

// The one catch-all besides the FUSE callbacks': an exception that escapes a command is a bug,
// reported as such instead of terminating.
int main(int argc, char** argv) {
  ReserveStandardFds();
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fputs("weightfs: internal error: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
  } catch (...) {
    std::fputs("weightfs: internal error: unknown exception\n", stderr);
  }
  return weightfs::cli::kExitFailure;
}
