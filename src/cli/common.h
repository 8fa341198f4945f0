// Shared pieces of the weightfs command line: exit codes, where secrets come from, opening a
// repository, progress bars and printing errors.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/store_open.h"
#include "weightfs/core/status.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::cli {

// Documented in the README; stable.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // anything not listed below (I/O errors, ...)
  kExitUsage = 2,       // bad command line or argument
  kExitWrongKey = 3,    // wrong passphrase or key file
  kExitNotRepo = 4,     // not a repository, or a format newer than this build
  kExitCorruption = 5,  // corruption or tampering detected
  kExitNoSpace = 6,     // no space left on device
  kExitBusy = 7,        // the repository is locked by another writer
  kExitNotFound = 8,    // a path or version that does not exist
};

int ExitCodeFor(const Status& status);
// Prints "weightfs: <message>" (and a hint for some codes) to stderr; returns the exit code.
int Fail(const Status& status);

// Options every command that unlocks a repository takes.
struct UnlockOptions {
  std::string passphrase_file;
  std::string key_file;
  std::string slot;
  bool accept_rollback = false;
  StoreArgs store;  // where an s3:// repository is reached, its object cache
  void AddTo(CLI::App* cmd);
};

// The passphrase or key file of an existing slot: --key-file, --passphrase-file,
// WEIGHTFS_PASSPHRASE, or a no-echo prompt on the terminal.
Result<repo::Credential> ReadCredential(const UnlockOptions& options, const std::string& prompt);
// A new secret: --new-key-file (generated), --new-passphrase-file, or a prompt asked twice.
Result<repo::Credential> ReadNewCredential(const std::string& new_passphrase_file,
                                           const std::string& new_key_file, bool use_env);

// Opens and unlocks the repository at path (asking for the secret), then checks it against
// what this machine has seen of it there (rollback detection, local_state.h).
Result<std::unique_ptr<repo::Repository>> OpenRepository(const std::string& path,
                                                         const UnlockOptions& options);
// The same with a secret already read (a command that opens two repositories asks once).
// In a repository with scopes: which scope each path is in, from policy (nullptr: the stored
// policy), so that writes seal under the right keys. OpenRepository* call it.
void InstallScopes(repo::Repository* repo,
                   const std::shared_ptr<const policy::Policy>& policy = nullptr);

Result<std::unique_ptr<repo::Repository>> OpenRepositoryWith(const std::string& path,
                                                             const UnlockOptions& options,
                                                             const repo::Credential& credential);
// The store of a repository argument. kUnsupported (exit 4) when there is no such directory.
Result<std::unique_ptr<storage::ObjectStore>> OpenStoreAt(const std::string& path,
                                                          const StoreArgs& args);
// Where this machine records what it has seen of the repository at path: the state directory,
// and the location (the absolute path, normalized lexically: symbolic links are not resolved;
// an s3:// URL as given, without trailing '/').
repo::StateScope StateScopeFor(const std::string& path);

// Takes the writer lock for an offline command that changes the live tree (import, restore): a
// read-write mount would replace the live tree with its own on its next commit, silently
// dropping the change. kBusy (naming the holder, then advice: what to do instead) while a mount
// holds it; waits (up to kLeaseWaitForGcSeconds) while gc or another such command does; a stale
// lock is taken over, saying so on stderr.
Result<std::unique_ptr<repo::WriterLock>> LockLiveTree(repo::Repository* repo,
                                                       const std::string& command,
                                                       const std::string& advice);

// Scrypt parameters for a new slot: production defaults, or the unsafe test preset when
// --insecure-fast-kdf is given or WEIGHTFS_INSECURE_FAST_KDF=1.
crypto::ScryptParams NewSlotScrypt(bool insecure_fast_kdf, bool* allow_weak);

// A one-line progress bar on stderr, only when stderr is a terminal.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void Update(uint64_t done);
  void Done();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool finished_ = false;
  int64_t start_ns_;
  int64_t last_ns_ = 0;
};

std::string HumanBytes(uint64_t n);
// A size given on the command line (weightfs::ParseByteSize: "512M", "4G", "4GiB", "1048576";
// powers of 1024): kInvalidArgument naming `flag` and the accepted forms otherwise.
Result<uint64_t> ParseByteSize(const std::string& text, const std::string& flag);
// The first 16 hex digits of an id (how ids are shown).
std::string ShortId(const ObjectId& id);
// "ID  #SEQ  TIME  MESSAGE" of a snapshot (one line of a listing).
std::string DescribeSnapshot(const repo::SnapshotInfo& s);
std::string FormatTimeNs(int64_t ns);  // UTC "2026-11-29 13:05:01"

// Command registration, one per file family.
void AddRepoCommands(CLI::App* app, int* exit_code);    // init, key
void AddDataCommands(CLI::App* app, int* exit_code);    // import, export, ls, cat
void AddInfoCommands(CLI::App* app, int* exit_code);    // log, check, stats
void AddMountCommands(CLI::App* app, int* exit_code);   // mount, umount
void AddPolicyCommands(CLI::App* app, int* exit_code);  // policy check|explain|show|set
void AddCopyCommands(CLI::App* app, int* exit_code);    // copy
void AddCacheCommands(CLI::App* app, int* exit_code);   // cache stats|clear

// Reads and validates a policy file (errors read FILE:LINE:COLUMN: message).
Result<std::shared_ptr<const policy::Policy>> LoadPolicyFile(const std::string& path);
// Prints the policy's load-time warnings (unknown user and group names) to stderr.
void PrintPolicyWarnings(const policy::Policy& p);
// policy::RequireAdmin under the repository's policy (what changing the policy or the key
// slots needs).
Status RequireAdmin(const repo::Repository& repo, const std::string& action);
void AddHistoryCommands(CLI::App* app, int* exit_code);    // snapshot, tag, diff, restore
void AddRetentionCommands(CLI::App* app, int* exit_code);  // forget, gc (after the above)

}  // namespace weightfs::cli
