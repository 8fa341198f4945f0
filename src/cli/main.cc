// weightfs: the command line. Each subcommand is a thin layer over the repo library.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace weightfs::cli;
  CLI::App app{"weightfs: an encrypted, versioned repository of model weights"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "weightfs 0.1.0 (repository format v1)");
  int exit_code = kExitOk;
  AddRepoCommands(&app, &exit_code);
  AddDataCommands(&app, &exit_code);
  AddInfoCommands(&app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "weightfs: internal error: " << e.what() << "\n";
    return kExitFailure;
  }
  return exit_code;
}
