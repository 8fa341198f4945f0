// weightfs cache stats|clear: the machine's cache of objects fetched from remote stores
// (storage::OpenCachingStore in DefaultCacheDir(), or --cache-dir).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/storage/caching_store.h"

namespace weightfs::cli {
namespace {

struct CacheArgs {
  std::string dir;
  bool json = false;
};

std::string CacheDir(const CacheArgs& a) { return a.dir.empty() ? repo::DefaultCacheDir() : a.dir; }

int RunStats(const CacheArgs& a) {
  const std::string dir = CacheDir(a);
  auto stats = storage::ScanCacheDir(dir);
  if (!stats.ok()) return Fail(stats.status());
  if (a.json) {
    nlohmann::json j = {{"dir", dir}, {"entries", stats->entries}, {"bytes", stats->bytes}};
    j["max_bytes"] = stats->max_bytes ? nlohmann::json(*stats->max_bytes) : nlohmann::json();
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "cache directory: " << dir << "\n"
            << "entries:         " << stats->entries << "\n"
            << "bytes:           " << stats->bytes << " (" << HumanBytes(stats->bytes) << ")\n"
            << "max:             "
            << (stats->max_bytes
                    ? std::to_string(*stats->max_bytes) + " (" + HumanBytes(*stats->max_bytes) + ")"
                    : std::string("unknown (no store has opened it)"))
            << "\n";
  return kExitOk;
}

int RunClear(const CacheArgs& a) {
  const std::string dir = CacheDir(a);
  auto removed = storage::ClearCacheDir(dir);
  if (!removed.ok()) return Fail(removed.status());
  std::cout << "removed " << removed->entries << " cached objects (" << HumanBytes(removed->bytes)
            << ") from " << dir << "\n";
  return kExitOk;
}

}  // namespace

void AddCacheCommands(CLI::App* app, int* exit_code) {
  CLI::App* cache = app->add_subcommand(
      "cache", "Show or empty this machine's cache of objects fetched from remote stores");
  cache->require_subcommand(1);
  const std::string dir_help =
      "Cache directory (default: the state directory's cache/, " + repo::DefaultCacheDir() + ")";

  auto sa = std::make_shared<CacheArgs>();
  CLI::App* stats = cache->add_subcommand("stats", "Print the cache's entries, bytes and bound");
  stats->add_option("--cache-dir", sa->dir, dir_help);
  stats->add_flag("--json", sa->json, "Print JSON");
  stats->callback([exit_code, sa] { *exit_code = RunStats(*sa); });

  auto ca = std::make_shared<CacheArgs>();
  CLI::App* clear = cache->add_subcommand(
      "clear", "Remove every cached object (safe while mounts and commands use the cache)");
  clear->add_option("--cache-dir", ca->dir, dir_help);
  clear->callback([exit_code, ca] { *exit_code = RunClear(*ca); });
}

}  // namespace weightfs::cli
