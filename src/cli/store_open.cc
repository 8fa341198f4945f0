#include "cli/store_open.h"

#include <sys/stat.h>

#include <boost/filesystem.hpp>

#include "cli/common.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/storage/caching_store.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/storage/s3_config.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::cli {
namespace {

Result<std::unique_ptr<storage::s3::S3Store>> OpenS3(const std::string& repo, const StoreArgs& args,
                                                     std::function<void(const std::string&)> log) {
  namespace s3 = storage::s3;
  ASSIGN_OR_RETURN(s3::Location location, s3::ParseS3Url(repo));
  s3::Overrides overrides;
  overrides.endpoint = args.s3_endpoint;
  overrides.region = args.s3_region;
  if (args.s3_path_style) overrides.path_style = true;
  if (args.s3_virtual_hosted) overrides.path_style = false;
  ASSIGN_OR_RETURN(s3::Settings settings, s3::ResolveSettings(overrides, s3::ProcessEnvironment()));
  s3::StoreOptions options;
  options.settings = std::move(settings);
  options.location = std::move(location);
  options.log = std::move(log);
  return s3::S3Store::Open(std::move(options));
}

Status CreateEmptyDir(const std::string& path) {
  namespace fs = boost::filesystem;
  try {
    if (fs::exists(path)) {
      if (!fs::is_directory(path)) return AlreadyExists(path + " exists and is not a directory");
      if (!fs::is_empty(path))
        return AlreadyExists(path +
                             " is not empty; weightfs init needs a missing or empty directory");
      return Status::Ok();
    }
    fs::create_directories(path);
    ::chmod(path.c_str(), 0700);
  } catch (const fs::filesystem_error& e) {
    return IoError("creating " + path + ": " + e.code().message());
  }
  return Status::Ok();
}

}  // namespace

void StoreArgs::AddTo(CLI::App* cmd) {
  cmd->add_option("--s3-endpoint", s3_endpoint,
                  "S3 endpoint URL (http[s]://HOST[:PORT]); default: AWS_ENDPOINT_URL, the "
                  "profile's endpoint_url, or AWS");
  cmd->add_option("--s3-region", s3_region, "S3 region (default: AWS_REGION, the profile's)");
  cmd->add_flag("--s3-path-style", s3_path_style,
                "Address the bucket in the path (local S3 servers; the default for non-AWS "
                "endpoints)");
  cmd->add_flag("--s3-virtual-hosted", s3_virtual_hosted,
                "Address the bucket in the host name (AWS's default)");
  cmd->add_option("--cache-dir", cache_dir,
                  "Node-local cache of an S3 repository's sealed objects, shared by the mounts "
                  "and commands of this machine (default: under the state directory)");
  cmd->add_option("--cache-max", cache_max,
                  "Bound of the node-local object cache, e.g. 20G (default 4G)");
  cmd->add_flag("--no-cache", no_cache, "Read an S3 repository's objects without the cache");
}

bool IsRemoteRepository(const std::string& repo) { return storage::s3::IsS3Url(repo); }

Result<std::unique_ptr<storage::ObjectStore>> OpenStore(
    const std::string& repo, const StoreArgs& args, std::function<void(const std::string&)> log) {
  if (!IsRemoteRepository(repo)) return storage::OpenLocalStore(repo);
  storage::CacheOptions cache;
  if (!args.no_cache) {
    cache.dir = args.cache_dir.empty() ? repo::DefaultCacheDir() : args.cache_dir;
    if (!args.cache_max.empty()) {
      ASSIGN_OR_RETURN(cache.max_bytes, ParseByteSize(args.cache_max, "--cache-max"));
    }
    cache.log = log;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::s3::S3Store> s3, OpenS3(repo, args, std::move(log)));
  if (args.no_cache) return std::unique_ptr<storage::ObjectStore>(std::move(s3));
  return storage::OpenCachingStore(std::shared_ptr<storage::ObjectStore>(std::move(s3)),
                                   std::move(cache));
}

Result<std::unique_ptr<storage::ObjectStore>> CreateStore(const std::string& repo,
                                                          const StoreArgs& args) {
  if (!IsRemoteRepository(repo)) {
    RETURN_IF_ERROR(CreateEmptyDir(repo));
    return storage::OpenLocalStore(repo);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::s3::S3Store> s3, OpenS3(repo, args, nullptr));
  ASSIGN_OR_RETURN(std::optional<Bytes> config, s3->ReadFileAtMost("config", 1 << 20));
  if (config) {
    return AlreadyExists(repo + " already holds a weightfs repository; weightfs init needs an " +
                         "empty bucket or prefix");
  }
  return std::unique_ptr<storage::ObjectStore>(std::move(s3));
}

Result<std::string> RecordStoreCapabilities(storage::ObjectStore* store) {
  auto* s3 = dynamic_cast<storage::s3::S3Store*>(store);
  if (s3 == nullptr) return std::string();
  ASSIGN_OR_RETURN(storage::s3::ConditionalWrites cw, s3->ProbeConditionalWrites());
  if (cw == storage::s3::ConditionalWrites::kSupported) return std::string();
  return std::string(
      "this S3 server ignores conditional writes: refs are updated by read-compare-write, so "
      "two writers at the same moment could lose one update; keep one writer at a time (a "
      "read-write mount's writer lock does) — see the README, \"S3 object storage\"");
}

}  // namespace weightfs::cli
