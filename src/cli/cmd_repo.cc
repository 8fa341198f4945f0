// weightfs init, weightfs key add|list|remove|passwd.
#include <sys/stat.h>

#include <boost/filesystem.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "weightfs/policy/key_slot_auth.h"
#include "weightfs/repo/replica.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/vfs/access.h"

namespace weightfs::cli {
namespace {

struct InitArgs {
  std::string repo;
  std::string key_file;      // existing key file to unlock the first slot
  std::string new_key_file;  // generate one
  std::string passphrase_file;
  bool insecure_fast_kdf = false;
  std::string replica_of;  // make an empty replica of this repository
  std::string chunk_size;  // the average chunk size; empty: by where the repository is
  StoreArgs store;
};

// Fewer, larger objects cost an object store fewer requests (charged per request on AWS, and
// in CPU on a server: Swift spent 7.1 s per GiB on 1 MiB chunks, 4.5 on 4 MiB ones); a local
// disk is not charged per file.
constexpr uint32_t kLocalChunkSize = 1 << 20;
constexpr uint32_t kRemoteChunkSize = 4 << 20;

// --chunk-size AVG: min AVG/4, max 4*AVG, as the default 256K / 1M / 4M.
Result<repo::ChunkerParams> ChunkerParamsFor(const InitArgs& a) {
  uint64_t avg = IsRemoteRepository(a.repo) ? kRemoteChunkSize : kLocalChunkSize;
  if (!a.chunk_size.empty()) {
    ASSIGN_OR_RETURN(avg, ParseByteSize(a.chunk_size, "--chunk-size"));
  }
  if (avg < (256 << 10) || avg > (16 << 20) || (avg & (avg - 1)) != 0) {
    return InvalidArgument("--chunk-size must be a power of two from 256K to 16M (got " +
                           a.chunk_size + ")");
  }
  repo::ChunkerParams p;
  p.avg_size = static_cast<uint32_t>(avg);
  p.min_size = p.avg_size / 4;
  p.max_size = p.avg_size * 4;
  return p;
}

// An empty replica of a.replica_of: its config and key slots, byte for byte (repo/replica.h).
// --passphrase-file and --key-file unlock the source; the replica opens with the same secrets.
int RunInitReplica(const InitArgs& a) {
  if (!a.new_key_file.empty() || a.insecure_fast_kdf || !a.chunk_size.empty()) {
    return Fail(InvalidArgument(
        "--new-key-file, --insecure-fast-kdf and --chunk-size do not go with --replica-of: a "
        "replica has its source's key slots and configuration"));
  }
  UnlockOptions unlock;
  unlock.passphrase_file = a.passphrase_file;
  unlock.key_file = a.key_file;
  unlock.store = a.store;
  auto credential = ReadCredential(unlock, "Passphrase for " + a.replica_of + ": ");
  if (!credential.ok()) return Fail(credential.status());
  auto src = OpenRepositoryWith(a.replica_of, unlock, *credential);
  if (!src.ok()) return Fail(src.status());
  if ((*src)->objects().scoped()) {
    return Fail(Unsupported("making a replica of a repository with scopes is not supported yet"));
  }
  auto store = CreateStore(a.repo, a.store);
  if (!store.ok()) return Fail(store.status());
  if (Status s = repo::InitReplica(**src, store->get()); !s.ok())
    return Fail(s.WithContext(a.repo));
  // Opening once writes the empty live tree and proves the slots came across.
  auto replica = OpenRepositoryWith(a.repo, unlock, *credential);
  if (!replica.ok()) return Fail(replica.status());
  std::cout << "created " << a.repo << ", an empty replica of " << a.replica_of << " (id "
            << ToHex((*replica)->config().repo_id) << "); fill it with `weightfs copy "
            << a.replica_of << " " << a.repo << "`\n";
  return kExitOk;
}

int RunInit(const InitArgs& a) {
  if (!a.replica_of.empty()) return RunInitReplica(a);
  repo::InitOptions options;
  auto chunker = ChunkerParamsFor(a);
  if (!chunker.ok()) return Fail(chunker.status());
  options.chunker = *chunker;
  options.scrypt = NewSlotScrypt(a.insecure_fast_kdf, &options.allow_weak_kdf);
  Result<repo::Credential> cred = Internal("unset");
  if (!a.key_file.empty()) {
    cred = repo::LoadKeyFile(a.key_file);
  } else {
    cred = ReadNewCredential(a.passphrase_file, a.new_key_file, true);
  }
  if (!cred.ok()) return Fail(cred.status());
  auto store = CreateStore(a.repo, a.store);
  if (!store.ok()) return Fail(store.status());
  if (Status s = repo::Repository::Init(store->get(), *cred, options); !s.ok()) return Fail(s);
  auto note = RecordStoreCapabilities(store->get());
  if (!note.ok()) return Fail(note.status());
  if (!note->empty()) std::cerr << "weightfs: warning: " << *note << "\n";
  // Opening once writes the empty live tree and proves the slot works.
  auto repo = repo::Repository::Open(std::move(store).value(), *cred);
  if (!repo.ok()) return Fail(repo.status());
  std::cout << "created repository " << a.repo << " (id " << ToHex((*repo)->config().repo_id)
            << "), key slot 'admin' with role admin\n";
  if (options.allow_weak_kdf) {
    std::cerr
        << "weightfs: warning: --insecure-fast-kdf: the passphrase is protected by weak scrypt "
           "parameters; use this only for tests\n";
  }
  return kExitOk;
}

struct KeyArgs {
  std::string repo;
  UnlockOptions unlock;
  std::string name;
  std::string role;
  std::string new_passphrase_file;
  std::string new_key_file;
  bool insecure_fast_kdf = false;
  bool json = false;
};

int RunKeyAdd(const KeyArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  bool allow_weak = false;
  crypto::ScryptParams scrypt = NewSlotScrypt(a.insecure_fast_kdf, &allow_weak);
  if (a.new_key_file.empty()) {
    if (Status s = repo::ValidateNewScrypt(scrypt, allow_weak); !s.ok()) return Fail(s);
  }
  if (Status s = repo::ValidateSlotName(a.name); !s.ok()) return Fail(s);
  if (Status s = ValidateRoleName(a.role); !s.ok()) return Fail(s.WithContext("role"));
  // A slot may give any role, admin included: adding slots is administration.
  if (Status s = RequireAdmin(**repo, "adding a key slot"); !s.ok()) return Fail(s);
  auto cred = ReadNewCredential(a.new_passphrase_file, a.new_key_file, false);
  if (!cred.ok()) return Fail(cred.status());
  // With scopes, the slot holds the keys of exactly the scopes its role needs.
  std::optional<std::vector<uint32_t>> keys;
  if ((*repo)->objects().scoped()) {
    auto policy = vfs::LoadRepositoryPolicy(**repo);
    if (!policy.ok()) return Fail(policy.status());
    keys = policy::SlotKeysFor(**policy, a.role, (*repo)->objects().registry());
  }
  if (Status s = (*repo)->key_slots().AddKeySlot(a.name, a.role, *cred, scrypt, keys); !s.ok()) {
    if (!a.new_key_file.empty()) ::unlink(a.new_key_file.c_str());
    return Fail(s);
  }
  std::cout << "added key slot '" << a.name << "' with role " << a.role;
  if ((*repo)->objects().scoped()) {
    const auto scopes = keys ? policy::ScopesOfKeys(*keys, (*repo)->objects().registry())
                             : std::vector<std::string>{};
    std::string names;
    for (const auto& n : scopes) names += (names.empty() ? "" : ", ") + n;
    std::cout << (keys ? " holding the keys of " + (names.empty() ? "no scope" : "scopes " + names)
                       : " holding the master secret (every scope)");
  }
  if (!a.new_key_file.empty()) std::cout << " (key file " << a.new_key_file << ")";
  std::cout << "\n";
  return kExitOk;
}

int RunKeyList(const KeyArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto slots = (*repo)->key_slots().ListKeySlots();
  if (!slots.ok()) return Fail(slots.status());
  // With scopes: what each slot can decrypt (its key ids are public in the slot file).
  const bool scoped = (*repo)->objects().scoped();
  auto holds = [&](const repo::KeySlotInfo& s) {
    if (!s.key_ids) return std::string("every scope (master secret)");
    std::string names;
    for (const auto& n : policy::ScopesOfKeys(*s.key_ids, (*repo)->objects().registry()))
      names += (names.empty() ? "" : ", ") + n;
    return names.empty() ? std::string("no scope") : "scopes " + names;
  };
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *slots) {
      nlohmann::json j = {{"name", s.name}, {"role", s.role}, {"kind", s.kind}};
      if (scoped) {
        j["holds_master_secret"] = !s.key_ids.has_value();
        j["scopes"] = s.key_ids ? policy::ScopesOfKeys(*s.key_ids, (*repo)->objects().registry())
                                : std::vector<std::string>{};
      }
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& s : *slots) {
    std::cout << s.name << "\t" << s.role << "\t" << s.kind << (scoped ? "\t" + holds(s) : "")
              << (s.name == (*repo)->slot_name() ? "\t(unlocked this session)" : "") << "\n";
  }
  return kExitOk;
}

int RunKeyRemove(const KeyArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  // Giving up one's own slot needs no rights; removing another's is administration.
  if (a.name != (*repo)->slot_name()) {
    if (Status s = RequireAdmin(**repo, "removing another key slot"); !s.ok()) return Fail(s);
  }
  auto policy = vfs::LoadRepositoryPolicy(**repo);
  auto slots = (*repo)->key_slots().ListKeySlots();
  if (!policy.ok()) return Fail(policy.status());
  if (!slots.ok()) return Fail(slots.status());
  if (!policy::SomeSlotMayAdmin(**policy, *slots, a.name)) {
    return Fail(PermissionDenied("refusing to remove '" + a.name +
                                 "': it is the last key slot whose role may administer, so "
                                 "nobody could change the policy or the key slots afterwards"));
  }
  if (Status s = (*repo)->key_slots().RemoveKeySlot(a.name); !s.ok()) return Fail(s);
  std::cout << "removed key slot '" << a.name << "'\n";
  return kExitOk;
}

int RunKeyPasswd(const KeyArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  std::string name = a.name.empty() ? (*repo)->slot_name() : a.name;
  if (name != (*repo)->slot_name()) {
    if (Status s = RequireAdmin(**repo, "changing another slot's secret"); !s.ok()) return Fail(s);
  }
  bool allow_weak = false;
  crypto::ScryptParams scrypt = NewSlotScrypt(a.insecure_fast_kdf, &allow_weak);
  if (a.new_key_file.empty()) {
    if (Status s = repo::ValidateNewScrypt(scrypt, allow_weak); !s.ok()) return Fail(s);
  }
  auto cred = ReadNewCredential(a.new_passphrase_file, a.new_key_file, false);
  if (!cred.ok()) return Fail(cred.status());
  if (Status s = (*repo)->key_slots().ChangeKeySlot(name, *cred, scrypt); !s.ok()) return Fail(s);
  std::cout << "changed the secret of key slot '" << name << "'\n";
  return kExitOk;
}

void AddInitCommand(CLI::App* app, int* exit_code) {
  auto init_args = std::make_shared<InitArgs>();
  CLI::App* init =
      app->add_subcommand("init", "Create a new repository in a missing or empty directory");
  init->add_option("REPO", init_args->repo, "Repository directory or s3://BUCKET[/PREFIX]")
      ->required();
  init->add_option("--passphrase-file", init_args->passphrase_file,
                   "Read the new passphrase from FILE");
  init->add_option("--key-file", init_args->key_file,
                   "Protect the first slot with this existing key file");
  init->add_option("--new-key-file", init_args->new_key_file,
                   "Generate a key file for the first slot at FILE");
  init->add_flag("--insecure-fast-kdf", init_args->insecure_fast_kdf,
                 "UNSAFE: cheap scrypt parameters, for tests only");
  init->add_option("--replica-of", init_args->replica_of,
                   "Make an empty replica of this repository (same id, config and key slots; "
                   "--passphrase-file/--key-file unlock it); fill it with `weightfs copy`");
  init->add_option("--chunk-size", init_args->chunk_size,
                   "Average chunk (object) size, a power of two from 256K to 16M; chunks are "
                   "from a quarter to four times it (default 1M, 4M on s3://: fewer requests)");
  init_args->store.AddTo(init);
  init->callback([=] { *exit_code = RunInit(*init_args); });
}

}  // namespace

void AddRepoCommands(CLI::App* app, int* exit_code) {
  AddInitCommand(app, exit_code);

  CLI::App* key = app->add_subcommand("key", "Manage key slots (passphrases and key files)");
  key->require_subcommand(1);
  auto add_common = [](CLI::App* cmd, KeyArgs* a) {
    cmd->add_option("REPO", a->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
    a->unlock.AddTo(cmd);
  };
  auto add_new_secret = [](CLI::App* cmd, KeyArgs* a) {
    cmd->add_option("--new-passphrase-file", a->new_passphrase_file,
                    "Read the new passphrase from FILE");
    cmd->add_option("--new-key-file", a->new_key_file,
                    "Generate a key file at FILE instead of a passphrase");
    cmd->add_flag("--insecure-fast-kdf", a->insecure_fast_kdf,
                  "UNSAFE: cheap scrypt parameters, for tests only");
  };

  auto add_args = std::make_shared<KeyArgs>();
  CLI::App* add = key->add_subcommand("add", "Add a key slot with a name and a role");
  add_common(add, add_args.get());
  add->add_option("--name", add_args->name, "Name of the new slot")->required();
  add->add_option("--role", add_args->role, "Role of the new slot")->required();
  add_new_secret(add, add_args.get());
  add->callback([=] { *exit_code = RunKeyAdd(*add_args); });

  auto list_args = std::make_shared<KeyArgs>();
  CLI::App* list = key->add_subcommand("list", "List key slots");
  add_common(list, list_args.get());
  list->add_flag("--json", list_args->json, "Print JSON");
  list->callback([=] { *exit_code = RunKeyList(*list_args); });

  auto remove_args = std::make_shared<KeyArgs>();
  CLI::App* remove = key->add_subcommand("remove", "Remove a key slot (never the last one)");
  add_common(remove, remove_args.get());
  remove->add_option("NAME", remove_args->name, "Slot to remove")->required();
  remove->callback([=] { *exit_code = RunKeyRemove(*remove_args); });

  auto passwd_args = std::make_shared<KeyArgs>();
  CLI::App* passwd = key->add_subcommand("passwd", "Change the passphrase or key file of a slot");
  add_common(passwd, passwd_args.get());
  passwd->add_option("NAME", passwd_args->name, "Slot to change (default: the one that unlocks)");
  add_new_secret(passwd, passwd_args.get());
  passwd->callback([=] { *exit_code = RunKeyPasswd(*passwd_args); });
}

}  // namespace weightfs::cli
