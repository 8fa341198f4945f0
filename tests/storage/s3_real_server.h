// The real S3 server of the s3server ctest fixture (scripts/s3-server.sh: Swift with s3api; see
// tests/s3/s3_server.cmake) for the contract suite: each store gets a fresh bucket, emptied and
// deleted when the store goes.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/s3_client.h"
#include "storage/s3_test_util.h"

namespace weightfs::storage::s3::testing {

// The fixture's settings file, or empty when the test does not run under the fixture.
inline std::string RealS3EnvFile() {
  const char* file = std::getenv("WEIGHTFS_S3_ENV_FILE");
  return file ? file : "";
}

// Why the real server cannot be used, or empty. Outside the fixture (ctest -L s3 runs it) the
// case is skipped; under it, a missing settings file (the server could not start here) is a skip
// too, unless WEIGHTFS_REQUIRE_S3=1: then the store is not made and the test fails.
inline std::string RealS3Unavailable() {
  const std::string file = RealS3EnvFile();
  if (file.empty()) return "not run under the s3server fixture (ctest -L s3 runs it)";
  if (std::ifstream(file).good()) return {};
  const char* require = std::getenv("WEIGHTFS_REQUIRE_S3");
  if (require != nullptr && std::string(require) == "1") return {};
  return "the S3 server could not start here (no " + file + ")";
}

inline StoreOptions RealS3Options(const std::string& bucket) {
  std::map<std::string, std::string> env;
  std::ifstream in(RealS3EnvFile());
  for (std::string line; std::getline(in, line);) {
    if (size_t eq = line.find('='); eq != std::string::npos) {
      env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  StoreOptions o;
  o.settings.endpoint = env["AWS_ENDPOINT_URL"];
  o.settings.region = env["AWS_REGION"].empty() ? "us-east-1" : env["AWS_REGION"];
  o.settings.path_style = true;
  o.settings.credentials.access_key_id = env["AWS_ACCESS_KEY_ID"];
  o.settings.credentials.secret_access_key = SecretBytes(AsBytes(env["AWS_SECRET_ACCESS_KEY"]));
  o.settings.credentials_source = RealS3EnvFile();
  o.location.bucket = bucket;
  o.location.prefix = "repo";
  o.max_connections = 8;
  o.timeout = std::chrono::milliseconds(30000);
  return o;
}

// Deletes every key of the bucket, then the bucket (best effort: a failure only leaves a bucket
// behind in the fixture's server, which its stop removes).
inline void DeleteBucket(const S3Client& client) {
  std::vector<std::string> keys;
  Status listed = client.List("", "", 0, false, [&](const ListPage& page) {
    for (const ListEntry& e : page.contents) keys.push_back(e.key);
    return Status::Ok();
  });
  if (!listed.ok()) ADD_FAILURE() << "emptying the test bucket: " << listed.ToString();
  for (const std::string& key : keys) client.Send(S3Request{"DELETE", key}).status().IgnoreError();
  client.Send(S3Request{"DELETE", ""}).status().IgnoreError();
}

inline std::unique_ptr<ObjectStore> S3TestStore::MakeOnRealServer() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const std::string bucket = "wfs-contract-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++) + "-" + std::to_string(rd() % 100000);
  auto client = std::make_shared<S3Client>(RealS3Options(bucket));
  auto created = client->Send(S3Request{"PUT", ""});  // CreateBucket
  if (!created.ok() || created->status() != 200) {
    ADD_FAILURE() << "creating bucket " << bucket << " at " << client->options().settings.endpoint
                  << ": "
                  << (created.ok() ? client->ErrorFor(*created, "creating").ToString()
                                   : created.status().ToString());
    return nullptr;
  }
  auto cleanup = [client] { DeleteBucket(*client); };
  auto store = S3Store::Open(RealS3Options(bucket));
  if (store.ok()) {
    auto probed = (*store)->ProbeConditionalWrites();
    if (!probed.ok()) store = probed.status();
  }
  if (!store.ok()) {
    ADD_FAILURE() << "opening an S3 store in " << bucket << ": " << store.status().ToString();
    cleanup();
    return nullptr;
  }
  return std::make_unique<S3TestStore>(nullptr, std::move(*store), cleanup);
}

}  // namespace weightfs::storage::s3::testing
