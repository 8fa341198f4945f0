// RefUpdater: the repository's refs, sealed with the refs key (the ref's name is bound in the
// additional data, so one ref cannot be passed off as another), and the one way to change them.
//
//   refs/main    the branch: head snapshot (id, seq) and the live tree's root, replaced together
//   refs/tags    every tag: name -> snapshot id (one file, so tag names do not leak)
//   refs/policy  the current policy object (absent: the built-in policy applies)
//
// Every change of a ref is a compare-and-swap on the bytes last read. UpdateRef (and the typed
// UpdateMain and UpdateTags) read the ref, let a function decide the new value and swap it in,
// and on kConflict read again and call the function again on the new value, at most
// kRefUpdateAttempts times: a concurrent change is never overwritten, and a caller never writes
// its own loop.
//
// Thread-safe: all methods may be called concurrently once the repository is open (the observer is
// set once, before that).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/objects.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

// How many times UpdateRef reads, decides and compare-and-swaps before it gives up with
// kConflict: the one retry policy of every ref.
inline constexpr int kRefUpdateAttempts = 100;

struct MainRef {
  std::optional<ObjectId> head;  // latest snapshot
  uint64_t head_seq = 0;
  ObjectId live_root;       // working tree of the live filesystem (with scopes: a handle)
  uint64_t generation = 0;  // bumped on every replacement
  // With scopes: the live tree's root per scope (encoding v2), from which RefUpdater makes
  // live_root when it reads the ref, and which it fills from live_root when it writes it.
  std::vector<ScopedRoot> live_roots;
};

using TagMap = std::map<std::string, ObjectId>;

// Converts a root tree between its stored form in a repository with scopes (a root tree per
// scope) and the one id the rest of the code works with (a handle; ObjectLayer implements it).
class RootCodec {
 public:
  virtual ~RootCodec() = default;
  // The handle of the root directory made of roots.
  virtual ObjectId HandleOf(const std::vector<ScopedRoot>& roots) const = 0;
  // The roots a handle stands for; kInternal for an id that is not a root handle.
  virtual Result<std::vector<ScopedRoot>> RootsOf(const ObjectId& handle) const = 0;
};

// A ref value together with the stored bytes it came from, for compare-and-swap.
template <typename T>
struct Versioned {
  T value;
  std::optional<Bytes> raw;  // nullopt: the ref did not exist
};

// Runs attempt until it returns anything but kConflict, at most kRefUpdateAttempts times, and
// returns its last status; when every attempt conflicted, kConflict saying that `what` kept
// changing. The retry policy of UpdateRef, for a caller whose conflict is not a ref write of its
// own (e.g. a value that must be read twice the same).
Status RetryOnConflict(const std::string& what, const std::function<Status()>& attempt);

class RefUpdater {
 public:
  // Decides a ref's next plaintext from its current one (nullopt: the ref does not exist).
  // Returns the plaintext to store, nullopt to leave the ref as it is (UpdateRef then returns Ok
  // without writing), or an error, which UpdateRef returns at once without writing. Called once
  // per attempt, each time with the value just read: it must not assume an earlier call's value.
  using UpdateFn = std::function<Result<std::optional<Bytes>>(const std::optional<Bytes>& current)>;
  // The typed forms: the function edits *value (the current value; a default value when the ref
  // does not exist) and returns true to store it, false to leave the ref as it is.
  using MainFn = std::function<Result<bool>(MainRef* value)>;
  using TagsFn = std::function<Result<bool>(TagMap* value)>;

  // store and refs_key must outlive this; before_write runs before every write (the repository's
  // write lease).
  RefUpdater(storage::ObjectStore* store, Bytes repo_id, const SecretBytes* refs_key,
             std::function<Status()> before_write);

  // Reads, decides and compare-and-swaps ref `name` under the retry policy above. kConflict when
  // kRefUpdateAttempts attempts all lost to other writers.
  Status UpdateRef(const std::string& name, const UpdateFn& fn);
  // UpdateRef on refs/main. A stored value gets generation + 1 (every replacement bumps it) and
  // is passed to the main observer.
  Status UpdateMain(const MainFn& fn);
  // UpdateRef on refs/tags; a stored map gets the next generation (see WriteTags).
  Status UpdateTags(const TagsFn& fn);

  Result<Versioned<MainRef>> ReadMain() const;
  // One compare-and-swap, no retry: kConflict if refs/main no longer holds expected_raw
  // (nullopt: if it exists). Stores value as given (generation included).
  Status WriteMain(const MainRef& value, const std::optional<Bytes>& expected_raw);
  // Called after every successful write of refs/main with the new value (rollback detection
  // records the head this machine has seen). Set once, before the repository is shared between
  // threads.
  void SetMainObserver(std::function<void(const MainRef&)> observer) {
    main_observer_ = std::move(observer);
  }
  // In a repository with scopes: refs/main is read and written with a root per scope, converted
  // by codec (which must outlive this). Set once, before the repository is shared.
  void SetRootCodec(const RootCodec* codec) { codec_ = codec; }

  // *generation (when given) receives refs/tags' generation, read with the same bytes (0:
  // missing, or written before generations existed).
  Result<Versioned<TagMap>> ReadTags(uint64_t* generation = nullptr) const;
  // One compare-and-swap, no retry: writes refs/tags with the generation after expected_raw's
  // (every change bumps it, so a machine that remembers the newest generation it saw detects a
  // rolled-back refs/tags; see local_state.h).
  Status WriteTags(const TagMap& tags, const std::optional<Bytes>& expected_raw);
  // The generation of refs/tags alone.
  Result<uint64_t> TagsGeneration() const;

  // refs/keys: the key ids of the scopes (keyring.h); an empty list when the repository has no
  // scopes (the ref is missing).
  Result<Versioned<std::vector<ScopeKeyInfo>>> ReadKeyRegistry() const;
  // One compare-and-swap, no retry.
  Status WriteKeyRegistry(const std::vector<ScopeKeyInfo>& registry,
                          const std::optional<Bytes>& expected_raw);
  // refs/policy as stored: the id of the current policy object (nullopt: none), no anchor check
  // (PolicyStore does that).
  Result<Versioned<std::optional<ObjectId>>> ReadPolicyRef() const;

 private:
  Result<Bytes> Seal(const std::string& name, ByteView plaintext) const;
  Result<Bytes> Open(const std::string& name, ByteView sealed) const;
  // The ref's sealed bytes and its plaintext (both nullopt when it does not exist).
  Result<std::optional<Bytes>> ReadRaw(const std::string& name, size_t max_size) const;
  Status Swap(const std::string& name, const std::optional<Bytes>& expected_raw,
              ByteView plaintext);
  // refs/main's plaintext to and from a MainRef, through codec_ when there is one.
  Result<MainRef> DecodeMainRef(ByteView plain) const;
  Result<Bytes> EncodeMainRef(MainRef value) const;

  storage::ObjectStore* const store_;
  const Bytes repo_id_;
  const SecretBytes* const refs_key_;
  const std::function<Status()> before_write_;
  std::function<void(const MainRef&)> main_observer_;
  const RootCodec* codec_ = nullptr;
};

}  // namespace weightfs::repo
