#include "cli/common.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "weightfs/core/clock.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/vfs/access.h"

namespace weightfs::cli {
namespace {

// For progress rates: a clock that never jumps.
int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Reads a line from the terminal without echo. kInvalidArgument when there is no terminal.
Result<SecretBytes> PromptNoEcho(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return InvalidArgument(
        "no passphrase given and no terminal to ask on: use --passphrase-file FILE, "
        "--key-file FILE or the WEIGHTFS_PASSPHRASE variable");
  }
  struct termios old {};
  bool have_termios = ::tcgetattr(fd, &old) == 0;
  if (have_termios) {
    struct termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  SecretBytes buf(4096);
  size_t len = 0;
  while (len < buf.size()) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0 || c == '\n' || c == '\r') break;
    buf.data()[len++] = static_cast<uint8_t>(c);
  }
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  return SecretBytes(ByteView(buf.data(), len));
}

// A passphrase file holds the passphrase on its first line; the newline is not part of it.
Result<SecretBytes> ReadPassphraseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "reading passphrase file " + path);
  SecretBytes buf(64 * 1024);
  ssize_t n = ::read(fd, buf.data(), buf.size());
  int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoStatus(err, "reading passphrase file " + path);
  auto len = static_cast<size_t>(n);
  for (size_t i = 0; i < len; ++i) {
    if (buf.data()[i] == '\n' || buf.data()[i] == '\r') {
      len = i;
      break;
    }
  }
  if (len == 0) return InvalidArgument("passphrase file " + path + " is empty");
  return SecretBytes(ByteView(buf.data(), len));
}

// "Not a repository" shares exit code 4 with "format newer than this build".
Status NotARepository(std::string message) { return Unsupported(std::move(message)); }

}  // namespace

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kWrongKey:
      return kExitWrongKey;
    case Code::kUnsupported:
      return kExitNotRepo;
    case Code::kCorruption:
      return kExitCorruption;
    case Code::kNoSpace:
      return kExitNoSpace;
    case Code::kBusy:
      return kExitBusy;
    case Code::kNotFound:
    case Code::kNotDirectory:
    case Code::kIsDirectory:
      return kExitNotFound;
    default:
      return kExitFailure;
  }
}

int Fail(const Status& s) {
  std::cerr << "weightfs: " << s.message() << "\n";
  return ExitCodeFor(s);
}

void UnlockOptions::AddTo(CLI::App* cmd) {
  cmd->add_option("--passphrase-file", passphrase_file,
                  "Read the passphrase from the first line of FILE");
  cmd->add_option("--key-file", key_file, "Unlock with a key file instead of a passphrase");
  cmd->add_option("--slot", slot, "Try only the key slot with this name");
  cmd->add_flag(
      "--accept-rollback", accept_rollback,
      "Accept a repository whose newest snapshot is older than one this machine has seen");
  store.AddTo(cmd);
}

Result<repo::Credential> ReadCredential(const UnlockOptions& options, const std::string& prompt) {
  repo::Credential c;
  if (!options.key_file.empty()) return repo::LoadKeyFile(options.key_file);
  if (!options.passphrase_file.empty()) {
    ASSIGN_OR_RETURN(c.secret, ReadPassphraseFile(options.passphrase_file));
    return c;
  }
  if (const char* env = std::getenv("WEIGHTFS_PASSPHRASE"); env && *env) {
    c.secret = SecretBytes(AsBytes(env));
    return c;
  }
  ASSIGN_OR_RETURN(c.secret, PromptNoEcho(prompt));
  if (c.secret.empty()) return InvalidArgument("the passphrase is empty");
  return c;
}

Result<repo::Credential> ReadNewCredential(const std::string& new_passphrase_file,
                                           const std::string& new_key_file, bool use_env) {
  repo::Credential c;
  if (!new_key_file.empty()) return repo::CreateKeyFile(new_key_file);
  if (!new_passphrase_file.empty()) {
    ASSIGN_OR_RETURN(c.secret, ReadPassphraseFile(new_passphrase_file));
    return c;
  }
  if (const char* env = std::getenv("WEIGHTFS_PASSPHRASE"); use_env && env && *env) {
    c.secret = SecretBytes(AsBytes(env));
    return c;
  }
  ASSIGN_OR_RETURN(SecretBytes first, PromptNoEcho("New passphrase: "));
  ASSIGN_OR_RETURN(SecretBytes second, PromptNoEcho("Repeat the new passphrase: "));
  if (first.empty()) return InvalidArgument("the passphrase is empty");
  if (AsString(first.view()) != AsString(second.view()))
    return InvalidArgument("the passphrases do not match");
  c.secret = std::move(first);
  return c;
}

Result<std::unique_ptr<storage::ObjectStore>> OpenStoreAt(const std::string& path,
                                                          const StoreArgs& args) {
  auto store = OpenStore(path, args);
  if (!store.ok() && store.status().code() == Code::kNotFound) {
    return NotARepository(
        path + " is not a weightfs repository (" +
        (IsRemoteRepository(path) ? store.status().message() : std::string("no such directory")) +
        ")");
  }
  return store;
}

repo::StateScope StateScopeFor(const std::string& path) {
  std::string location = path;
  if (location.rfind("s3://", 0) != 0) {
    // Lexically, not through symbolic links: a repository directory swapped for a link to an
    // older copy is still the location this machine saw (and the rollback is still caught).
    boost::system::error_code ec;
    boost::filesystem::path abs = boost::filesystem::absolute(path, ec);
    location = (ec ? boost::filesystem::path(path) : abs).lexically_normal().string();
    while (location.size() > 2 && location.compare(location.size() - 2, 2, "/.") == 0)
      location.resize(location.size() - 2);
  }
  while (location.size() > 1 && location.back() == '/') location.pop_back();
  return repo::StateScope{repo::DefaultStateDir(), location};
}

namespace {

// Rollback detection on an opened repository, then recording every head this process publishes.
Status CheckAgainstLocalState(repo::Repository* repo, const std::string& path,
                              const UnlockOptions& options) {
  const repo::StateScope scope = StateScopeFor(path);
  using CheckFn = Status (*)(const repo::Repository&, const repo::StateScope&, bool, std::string*);
  for (CheckFn check :
       {&repo::CheckAndRecordHead, &repo::CheckAndRecordPolicy, &repo::CheckAndRecordTags}) {
    std::string note;
    RETURN_IF_ERROR(check(*repo, scope, options.accept_rollback, &note).WithContext(path));
    if (!note.empty()) std::cerr << "weightfs: warning: " << note << "\n";
  }
  repo->refs().SetMainObserver([repo, scope](const repo::MainRef& head) {
    if (Status s = repo::RecordHead(*repo, head, scope); !s.ok()) {
      std::cerr
          << "weightfs: warning: could not record the repository's head for rollback detection: "
          << s.message() << "\n";
    }
  });
  return Status::Ok();
}

// The store at path, which must hold a repository (kUnsupported: exit 4).
Result<std::unique_ptr<storage::ObjectStore>> OpenRepositoryStore(const std::string& path,
                                                                  const StoreArgs& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::ObjectStore> store, OpenStoreAt(path, args));
  ASSIGN_OR_RETURN(std::optional<Bytes> config,
                   store->ReadFileAtMost("config", repo::kMaxConfigBytes));
  if (!config) return NotARepository(path + " is not a weightfs repository (no config file)");
  return store;
}

}  // namespace

Result<std::unique_ptr<repo::Repository>> OpenRepository(const std::string& path,
                                                         const UnlockOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::ObjectStore> store,
                   OpenRepositoryStore(path, options.store));
  ASSIGN_OR_RETURN(repo::Credential credential,
                   ReadCredential(options, "Passphrase for " + path + ": "));
  auto repo = repo::Repository::Open(std::move(store), credential, options.slot);
  if (!repo.ok()) return repo.status().WithContext(path);
  RETURN_IF_ERROR(CheckAgainstLocalState(repo->get(), path, options));
  InstallScopes(repo->get());
  return repo;
}

Result<std::unique_ptr<repo::Repository>> OpenRepositoryWith(const std::string& path,
                                                             const UnlockOptions& options,
                                                             const repo::Credential& credential) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::ObjectStore> store,
                   OpenRepositoryStore(path, options.store));
  auto repo = repo::Repository::Open(std::move(store), credential, options.slot);
  if (!repo.ok()) return repo.status().WithContext(path);
  RETURN_IF_ERROR(CheckAgainstLocalState(repo->get(), path, options));
  InstallScopes(repo->get());
  return repo;
}

void InstallScopes(repo::Repository* repo, const std::shared_ptr<const policy::Policy>& policy) {
  if (!repo->objects().scoped()) return;
  std::shared_ptr<const policy::Policy> p = policy;
  if (!p) {
    auto stored = vfs::LoadRepositoryPolicy(*repo);
    // Unset, every write fails saying the scopes are not loaded; reads need no scopes.
    if (!stored.ok()) return;
    p = std::move(stored).value();
  }
  repo->objects().SetScopeResolver([p](std::string_view path) { return p->ScopeOf(path); });
}

Result<std::unique_ptr<repo::WriterLock>> LockLiveTree(repo::Repository* repo,
                                                       const std::string& command,
                                                       const std::string& advice) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(repo::kLeaseWaitForGcSeconds);
  for (;;) {
    std::string note;
    auto lock = repo::WriterLock::Acquire(repo->store(), "weightfs " + command,
                                          static_cast<int>(::getpid()), &note);
    if (lock.ok()) {
      if (!note.empty()) std::cerr << "weightfs: " << note << "\n";
      return lock;
    }
    if (lock.status().code() != Code::kBusy) return lock.status();
    // gc or another import or restore ends by itself: wait for it (as leases wait for gc). A
    // mount holds the lock until it is unmounted: refuse at once.
    ASSIGN_OR_RETURN(bool mount_holds, repo::WriterLock::HeldByMount(repo->store()));
    if (mount_holds || std::chrono::steady_clock::now() > deadline) {
      return Busy(lock.status().message() + ". " + advice);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

crypto::ScryptParams NewSlotScrypt(bool insecure_fast_kdf, bool* allow_weak) {
  const char* env = std::getenv("WEIGHTFS_INSECURE_FAST_KDF");
  bool weak = insecure_fast_kdf || (env && std::string(env) == "1");
  *allow_weak = weak;
  return weak ? repo::kTestScrypt : crypto::ScryptParams{};
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(::isatty(2)), start_ns_(MonotonicNs()) {}

Progress::~Progress() { Done(); }

void Progress::Update(uint64_t done) {
  if (!enabled_ || finished_) return;
  int64_t now = MonotonicNs();
  if (now - last_ns_ < 100'000'000 && done < total_) return;
  last_ns_ = now;
  double secs = (now - start_ns_) / 1e9;
  double rate = secs > 0 ? done / secs : 0;
  int pct = total_ ? static_cast<int>(100.0 * done / total_) : 100;
  std::fprintf(stderr, "\r%s %3d%%  %s / %s  %s/s   ", label_.c_str(), pct,
               HumanBytes(done).c_str(), HumanBytes(total_).c_str(),
               HumanBytes(static_cast<uint64_t>(rate)).c_str());
  std::fflush(stderr);
}

void Progress::Done() {
  if (enabled_ && !finished_ && last_ns_ != 0) std::fprintf(stderr, "\n");
  finished_ = true;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string FormatTimeNs(int64_t ns) { return FormatUtc(ns, "%Y-%m-%d %H:%M:%S"); }

std::string ShortId(const ObjectId& id) { return id.Hex().substr(0, 16); }

std::string DescribeSnapshot(const repo::SnapshotInfo& s) {
  return ShortId(s.id) + "  #" + std::to_string(s.snapshot.seq) + "  " +
         FormatTimeNs(s.snapshot.time_ns) + "  " + s.snapshot.message;
}

}  // namespace weightfs::cli
