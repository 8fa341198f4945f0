// CollectGarbage: mark everything the refs reach, sweep the rest past a grace period. See
// history.h for the safety rules.
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "repo/reachability.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::repo {
namespace {

constexpr char kWriterLockFile[] = "locks/writer";

std::string GraceText(int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

struct Candidate {
  ObjectId id;
  uint64_t size;
};

// Takes the writer lock, which keeps read-write mounts from starting while objects are deleted
// (a dry run only looks). Returns nullptr when it cannot be had and that is allowed: a mount
// runs, and the grace period (at least kMinGraceWithMountSeconds, or --force) protects what it
// writes. Says so in report->note.
Result<std::unique_ptr<WriterLock>> HoldWriters(storage::ObjectStore* store,
                                                const GcOptions& options, GcReport* report) {
  const bool short_grace = options.grace_seconds < kMinGraceWithMountSeconds;
  if (options.dry_run) {
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kWriterLockFile));
    if (held && short_grace) {
      report->note =
          "a writer lock exists (a read-write mount may be running): a real run with a grace below "
          "1h "
          "would refuse without --force";
    }
    return std::unique_ptr<WriterLock>();
  }
  auto acquired =
      WriterLock::Acquire(store, "weightfs gc", static_cast<int>(::getpid()), &report->note);
  if (acquired.ok()) return std::move(acquired).value();
  if (acquired.status().code() != Code::kBusy) return acquired.status();
  if (short_grace && !options.force) {
    return Busy(acquired.status().message() +
                ". A live mount may be writing objects that no ref "
                "names yet: gc with --grace " +
                GraceText(options.grace_seconds) +
                " could delete them. Unmount first, use --grace 1h or more, or --force");
  }
  report->note = "a read-write mount is running; objects younger than " +
                 GraceText(options.grace_seconds) + " are kept";
  return std::unique_ptr<WriterLock>();
}

// Marks the roots of other processes' read leases; returns the oldest modification time that
// their write leases protect (nullopt: none).
Result<std::optional<int64_t>> MarkLeases(Marker* marker, const std::vector<LeaseInfo>& leases,
                                          const std::string& own_lease, GcReport* report) {
  std::optional<int64_t> protect_from;
  for (const LeaseInfo& lease : leases) {
    if (lease.name == own_lease) continue;
    report->leases++;
    for (const ObjectId& root : lease.roots) {
      RETURN_IF_ERROR(marker->MarkRoot(root).WithContext(
          "marking the tree " + root.Hex().substr(0, 16) + " a read-only mount serves (pid " +
          std::to_string(lease.pid) + " on " + lease.host + ")"));
    }
    if (lease.kind == LeaseKind::kWrite) {
      const int64_t from = lease.since - kLeaseClockSlackSeconds;
      protect_from = protect_from ? std::min(*protect_from, from) : from;
    }
  }
  return protect_from;
}

// Marks the snapshots of `ids` that are still stored, with their ancestors.
Status MarkKeptSnapshots(storage::ObjectStore* store, Marker* marker,
                         const std::vector<ObjectId>& ids, GcReport* report) {
  for (const ObjectId& id : ids) {
    ASSIGN_OR_RETURN(bool present, store->Contains(id));
    if (!present) continue;
    RETURN_IF_ERROR(marker->MarkSnapshot(id).WithContext("marking a snapshot a lost tag named"));
    report->kept_snapshots++;
  }
  return Status::Ok();
}

// The candidates still unmarked that are neither within the grace period nor protected by a
// write lease (now: the current time in seconds since the epoch); counts all of them, and the
// reachable objects, in report.
Result<std::vector<Candidate>> Doomed(storage::ObjectStore* store, const Marker& marker,
                                      const std::vector<Candidate>& candidates,
                                      const GcOptions& options, int64_t now,
                                      std::optional<int64_t> protect_from, GcReport* report) {
  std::vector<Candidate> doomed;
  for (const Candidate& c : candidates) {
    if (marker.Marked(c.id)) continue;
    auto mtime = store->MTime(c.id);
    if (!mtime.ok()) {
      if (mtime.status().code() == Code::kNotFound) continue;  // deleted meanwhile
      return mtime.status();
    }
    report->unreachable_objects++;
    report->unreachable_bytes += c.size;
    if (options.grace_seconds > 0 && *mtime > now - options.grace_seconds) {
      report->young_objects++;
      report->young_bytes += c.size;
      continue;
    }
    if (protect_from && *mtime >= *protect_from) {
      report->leased_objects++;
      report->young_bytes += c.size;
      report->young_objects++;
      continue;
    }
    doomed.push_back(c);
  }
  report->reachable_objects = report->objects - report->unreachable_objects;
  report->reachable_bytes = report->bytes - report->unreachable_bytes;
  return doomed;
}

Status Sweep(storage::ObjectStore* store, const std::vector<Candidate>& doomed, bool dry_run,
             GcReport* report) {
  for (const Candidate& c : doomed) {
    if (!dry_run) {
      Status s = store->Delete(c.id);
      if (s.code() == Code::kNotFound) continue;
      if (!s.ok()) return s.WithContext("deleting object " + c.id.Hex());
    }
    report->deleted_objects++;
    report->deleted_bytes += c.size;
  }
  return Status::Ok();
}

// What a slot cannot open it cannot walk: everything below would look unreachable.
Status RequireEveryKey(const Repository& repo) {
  if (!repo.objects().scoped() || repo.objects().HoldsAllKeys()) return Status::Ok();
  return PermissionDenied(
      "gc needs a key slot that holds every scope's keys (an "
      "administrator's); key slot '" +
      repo.slot_name() + "' holds only some");
}

}  // namespace

Result<GcReport> CollectGarbage(Repository* repo, const GcOptions& options) {
  RETURN_IF_ERROR(RequireEveryKey(*repo));
  if (options.grace_seconds < 0) return InvalidArgument("the grace period cannot be negative");
  storage::ObjectStore* store = repo->store();
  GcReport report;
  ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> lock, HoldWriters(store, options, &report));

  // Mark. Any error here aborts before anything is deleted.
  Marker marker(*repo);
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo->refs().ReadMain());
  ASSIGN_OR_RETURN(auto tags, repo->refs().ReadTags());
  RETURN_IF_ERROR(marker.MarkRefs(main.value, tags.value));
  RETURN_IF_ERROR(marker.MarkPolicies().WithContext("marking the policy history"));

  std::vector<Candidate> candidates;
  RETURN_IF_ERROR(store->ForEach([&](const ObjectId& id, uint64_t size) {
    report.objects++;
    report.bytes += size;
    if (!marker.Marked(id)) candidates.push_back({id, size});
    return Status::Ok();
  }));

  // Objects that appeared after the listing are not candidates. A writer whose lease is gone
  // now published before it let go, so reading the refs after the leases finds what it named;
  // a commit or tag published since marking may name some candidates, so mark from the refs
  // again if they moved.
  // Leases are read, and objects deleted, under the gc lock: a writer or read-only mount
  // registers its lease before this (so it is read here) or after the sweep, never during it.
  std::unique_ptr<GcLock> gc_lock;
  if (!options.dry_run) {
    ASSIGN_OR_RETURN(gc_lock, GcLock::Acquire(store));
  }
  int stale_leases = 0;
  ASSIGN_OR_RETURN(std::vector<LeaseInfo> leases, LiveLeases(store, &stale_leases));
  ASSIGN_OR_RETURN(std::optional<int64_t> protect_from,
                   MarkLeases(&marker, leases, repo->WriteLeaseName(), &report));
  RETURN_IF_ERROR(MarkKeptSnapshots(store, &marker, options.keep_snapshots, &report));
  const int64_t now =
      options.now_seconds ? *options.now_seconds : static_cast<int64_t>(std::time(nullptr));
  ASSIGN_OR_RETURN(Versioned<MainRef> main_now, repo->refs().ReadMain());
  ASSIGN_OR_RETURN(auto tags_now, repo->refs().ReadTags());
  if (main_now.raw != main.raw || tags_now.raw != tags.raw) {
    RETURN_IF_ERROR(marker.MarkRefs(main_now.value, tags_now.value));
  }
  RETURN_IF_ERROR(marker.MarkPolicies().WithContext("marking the policy history"));

  ASSIGN_OR_RETURN(std::vector<Candidate> doomed,
                   Doomed(store, marker, candidates, options, now, protect_from, &report));
  RETURN_IF_ERROR(Sweep(store, doomed, options.dry_run, &report));
  if (stale_leases > 0) {
    report.note += std::string(report.note.empty() ? "" : "; ") + "removed " +
                   std::to_string(stale_leases) + " lease(s) left by processes that no longer run";
  }
  gc_lock.reset();
  if (lock) RETURN_IF_ERROR(lock->Release());
  return report;
}

}  // namespace weightfs::repo
