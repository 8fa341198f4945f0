// Opening the store a repository argument names: a local directory, or s3://BUCKET[/PREFIX]
// reached with the endpoint, region and credentials the environment and ~/.aws give (see
// storage/s3_config.h), overridable on the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "weightfs/core/status.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::cli {

// Command-line options about where a repository is stored (only used for s3:// repositories):
// how the server is reached, and the node-local cache of its sealed objects.
struct StoreArgs {
  std::string s3_endpoint;
  std::string s3_region;
  bool s3_path_style = false;
  bool s3_virtual_hosted = false;
  std::string cache_dir;  // empty: repo::DefaultCacheDir()
  std::string cache_max;  // empty: storage::kDefaultCacheMaxBytes
  bool no_cache = false;
  void AddTo(CLI::App* cmd);
};

// The store of an existing repository: a local directory, or an S3 store behind the node-local
// object cache (unless --no-cache). kNotFound for a missing directory or bucket. log receives
// the store's and the cache's notable events (retries, dropped entries); may be empty.
Result<std::unique_ptr<storage::ObjectStore>> OpenStore(
    const std::string& repo, const StoreArgs& args,
    std::function<void(const std::string&)> log = nullptr);

// The store for a new repository: a missing or empty directory (created, mode 0700), or an
// S3 prefix that holds no repository yet. After init, RecordStoreCapabilities records what the
// store can do (S3: whether the server honours conditional writes) and returns a note for the
// user (empty: nothing to say).
Result<std::unique_ptr<storage::ObjectStore>> CreateStore(const std::string& repo,
                                                          const StoreArgs& args);
Result<std::string> RecordStoreCapabilities(storage::ObjectStore* store);

// Whether repo names S3 storage rather than a local directory.
bool IsRemoteRepository(const std::string& repo);

}  // namespace weightfs::cli
