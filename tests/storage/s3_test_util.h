// The S3 store's test harness: FakeS3 runs tests/storage/fake_s3.py (an in-memory S3 with fault
// injection) on 127.0.0.1 for one test, and S3TestStore is an S3Store on it that owns the
// server, for the ObjectStore contract suite.
#pragma once

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "weightfs/storage/s3_store.h"

extern char** environ;

namespace weightfs::storage::s3::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

// Why the fake server cannot run here, or empty.
inline std::string FakeS3Unavailable() {
  if (::access(kPython, X_OK) != 0) return std::string(kPython) + " is not installed";
  return {};
}

class FakeS3 {
 public:
  // Starts the server with extra arguments (e.g. "--no-conditional"); error() says why not.
  explicit FakeS3(std::vector<std::string> args = {}) {
    error_ = FakeS3Unavailable();
    if (!error_.empty()) return;
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      error_ = "pipe failed";
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<std::string> argv_s = {kPython, WEIGHTFS_SOURCE_DIR "/tests/storage/fake_s3.py"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(argv_s.size() + 1);
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, kPython, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    const std::string port = ReadLine();
    if (pid_ < 0 || port.empty()) {
      error_ = "the fake S3 server did not start";
      return;
    }
    endpoint_ = "http://127.0.0.1:" + port;
  }

  ~FakeS3() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (to_ >= 0) ::close(to_);
    if (from_ >= 0) ::close(from_);
  }
  FakeS3(const FakeS3&) = delete;
  FakeS3& operator=(const FakeS3&) = delete;

  const std::string& error() const { return error_; }
  const std::string& endpoint() const { return endpoint_; }

  // Sends a control command (see fake_s3.py) and returns its answer line.
  std::string Command(const std::string& line) {
    const std::string l = line + "\n";
    if (::write(to_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) return "write failed";
    return ReadLine();
  }
  // A counter of the server: "count", "connections" or "max_inflight".
  int Counter(const std::string& name) { return std::stoi(Command(name).substr(3)); }
  int RequestCount() { return Counter("count"); }

  // Options for a store on this server: path style, short timeouts and backoff; log lines
  // are collected in logs().
  StoreOptions Options(const std::string& prefix = "repo") {
    StoreOptions o;
    o.settings.endpoint = endpoint_;
    o.settings.region = "us-east-1";
    o.settings.path_style = true;
    o.settings.credentials.access_key_id = "AKIDFAKE";
    o.settings.credentials.secret_access_key = SecretBytes(AsBytes("fake-secret"));
    o.settings.credentials_source = "the test";
    o.location.bucket = "bucket";
    o.location.prefix = prefix;
    o.max_connections = 8;
    o.timeout = std::chrono::milliseconds(1000);
    o.max_attempts = 4;
    o.backoff_base = std::chrono::milliseconds(1);
    o.backoff_max = std::chrono::milliseconds(20);
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      logs_.push_back(line);
    };
    return o;
  }
  std::vector<std::string> logs() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return logs_;
  }

 private:
  std::string ReadLine() {
    std::string line;
    char c;
    for (;;) {
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, 20000) <= 0 || ::read(from_, &c, 1) != 1) return {};
      if (c == '\n') return line;
      line += c;
    }
  }

  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string error_;
  std::string endpoint_;
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

// An S3Store for the contract suite that owns what it runs on: its own fake server (Make), or a
// fresh bucket on the real server of the s3server ctest fixture (MakeOnRealServer), emptied and
// deleted with the store.
class S3TestStore : public ObjectStore {
 public:
  // Every request's signature is checked (the server knows the secret of Options()).
  static std::unique_ptr<ObjectStore> Make(std::vector<std::string> server_args) {
    server_args.insert(server_args.end(), {"--verify", "AKIDFAKE:fake-secret"});
    auto server = std::make_unique<FakeS3>(std::move(server_args));
    if (!server->error().empty()) return nullptr;
    auto store = S3Store::Open(server->Options());
    if (!store.ok() || !(*store)->ProbeConditionalWrites().ok()) return nullptr;
    return std::make_unique<S3TestStore>(std::move(server), std::move(*store), nullptr);
  }
  static std::unique_ptr<ObjectStore> MakeOnRealServer();

  S3TestStore(std::unique_ptr<FakeS3> server, std::unique_ptr<S3Store> store,
              std::function<void()> cleanup)
      : server_(std::move(server)), s_(std::move(store)), cleanup_(std::move(cleanup)) {}
  ~S3TestStore() override {
    s_.reset();
    if (cleanup_) cleanup_();
  }

  Status Put(const ObjectId& id, ByteView d) override { return s_->Put(id, d); }
  Result<Bytes> Get(const ObjectId& id) override { return s_->Get(id); }
  Result<Bytes> GetRange(const ObjectId& id, uint64_t o, uint64_t n) override {
    return s_->GetRange(id, o, n);
  }
  Result<size_t> ReadInto(const ObjectId& id, uint64_t o, std::span<uint8_t> d) override {
    return s_->ReadInto(id, o, d);
  }
  Result<bool> Contains(const ObjectId& id) override { return s_->Contains(id); }
  Result<uint64_t> Size(const ObjectId& id) override { return s_->Size(id); }
  Status Delete(const ObjectId& id) override { return s_->Delete(id); }
  Status ForEach(const std::function<Status(const ObjectId&, uint64_t)>& fn) override {
    return s_->ForEach(fn);
  }
  Result<int64_t> MTime(const ObjectId& id) override { return s_->MTime(id); }
  Status Touch(const ObjectId& id) override { return s_->Touch(id); }
  Status Sync() override { return s_->Sync(); }
  Result<std::optional<Bytes>> ReadFile(const std::string& n) override { return s_->ReadFile(n); }
  Result<std::optional<Bytes>> ReadFileAtMost(const std::string& n, size_t m) override {
    return s_->ReadFileAtMost(n, m);
  }
  Status WriteFile(const std::string& n, ByteView d) override { return s_->WriteFile(n, d); }
  Status CompareAndSwapFile(const std::string& n, const std::optional<Bytes>& e,
                            ByteView d) override {
    return s_->CompareAndSwapFile(n, e, d);
  }
  Status CreateFileExclusive(const std::string& n, ByteView d) override {
    return s_->CreateFileExclusive(n, d);
  }
  Status DeleteFile(const std::string& n) override { return s_->DeleteFile(n); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override {
    return s_->ListFiles(d);
  }
  Result<std::unique_ptr<FileLock>> TryLock(const std::string& n, bool shared) override {
    return s_->TryLock(n, shared);
  }

 private:
  std::unique_ptr<FakeS3> server_;  // destroyed after the store
  std::unique_ptr<S3Store> s_;
  std::function<void()> cleanup_;
};

}  // namespace weightfs::storage::s3::testing
