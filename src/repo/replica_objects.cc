// CopyToReplica's objects: exactly the ones the replica lacks, byte for byte, several at a time.
#include <atomic>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "repo/replica_internal.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_pool.h"

namespace weightfs::repo::replica_internal {
namespace {

struct Item {
  ObjectId id;
  uint64_t size;
};

// The objects of ids that dst lacks, with their sizes in src. One listing of each store: a
// remote store answers a listing of a thousand objects with one request, and a question about
// one object with one request each.
Result<std::vector<Item>> Missing(storage::ObjectStore* src, storage::ObjectStore* dst,
                                  const std::vector<ObjectId>& ids, CopyReport* report) {
  std::unordered_set<ObjectId, ObjectIdHash> present;
  RETURN_IF_ERROR(dst->ForEach([&](const ObjectId& id, uint64_t) {
                       present.insert(id);
                       return Status::Ok();
                     })
                      .WithContext("listing the replica's objects"));
  std::unordered_map<ObjectId, std::optional<uint64_t>, ObjectIdHash> wanted;
  for (const ObjectId& id : ids) {
    if (present.count(id) == 0) wanted.emplace(id, std::nullopt);
  }
  report->present_objects = ids.size() - wanted.size();
  std::vector<Item> items;
  if (wanted.empty()) return items;
  RETURN_IF_ERROR(src->ForEach([&](const ObjectId& id, uint64_t size) {
                       if (auto it = wanted.find(id); it != wanted.end()) it->second = size;
                       return Status::Ok();
                     })
                      .WithContext("listing the source's objects"));
  items.reserve(wanted.size());
  for (const auto& [id, size] : wanted) {
    if (!size) {
      return Corruption("the source lacks object " + id.Hex() +
                        ", which the snapshots being copied reach; run `weightfs check` on the "
                        "source");
    }
    items.push_back({id, *size});
  }
  return items;
}

Status CopyOne(storage::ObjectStore* src, storage::ObjectStore* dst, const ObjectId& id) {
  auto data = src->Get(id);
  if (!data.ok()) {
    if (data.status().code() == Code::kNotFound) {
      return Corruption("the source's object " + id.Hex() +
                        " disappeared during the copy (a gc?); run the copy again");
    }
    return data.status().WithContext("reading object " + id.Hex() + " from the source");
  }
  return dst->Put(id, *data).WithContext("writing object " + id.Hex() + " to the replica");
}

// The shared state of one parallel copy: counts, the first error, and a signal per finished
// object for the thread that reports progress. Thread-safe.
class CopyRun {
 public:
  explicit CopyRun(const std::vector<Item>& items) : total_(items.size()) {
    progress_.objects_total = items.size();
    for (const Item& item : items) progress_.bytes_total += item.size;
  }

  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  void Finish(const Item& item, const Status& s) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (!s.ok() && error_.ok()) {
      error_ = s;
      failed_.store(true, std::memory_order_relaxed);
    }
    if (s.ok()) {
      progress_.objects_done++;
      progress_.bytes_done += item.size;
    }
    finished_++;
    cv_.Signal();
  }

  // Reports progress about every 100 ms until every object is finished; the first error.
  Status Wait(const CopyProgressFn& report) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (;;) {
      const bool done = finished_ == total_;
      const CopyProgress now = progress_;
      lock.Unlock();
      if (report) report(now);
      lock.Lock();
      if (done) return error_;
      cv_.WaitFor(std::chrono::milliseconds(100),
                  [this]() NO_THREAD_SAFETY_ANALYSIS { return finished_ == total_; });
    }
  }

 private:
  const size_t total_;
  std::atomic<bool> failed_{false};
  Mutex mu_;  // a leaf lock
  CondVar cv_{&mu_};
  size_t finished_ GUARDED_BY(mu_) = 0;
  Status error_ GUARDED_BY(mu_);
  CopyProgress progress_ GUARDED_BY(mu_);
};

}  // namespace

Status CopyMissingObjects(storage::ObjectStore* src, storage::ObjectStore* dst,
                          const std::vector<ObjectId>& ids, int jobs,
                          const CopyProgressFn& progress, CopyReport* report) {
  ASSIGN_OR_RETURN(std::vector<Item> items, Missing(src, dst, ids, report));
  CopyRun run(items);
  Status copied;
  {
    ThreadPool pool(jobs);
    for (const Item& item : items) {
      pool.Submit([&run, src, dst, item] {
        // After a failure the rest are skipped: a rerun copies what is missing.
        run.Finish(item, run.failed() ? Status::Ok() : CopyOne(src, dst, item.id));
      });
    }
    copied = run.Wait(progress);
  }
  RETURN_IF_ERROR(copied);
  for (const Item& item : items) report->copied_bytes += item.size;
  report->copied_objects = items.size();
  // Objects before refs: nothing may name an object that a crash could still lose.
  return dst->Sync().WithContext("syncing the replica's objects");
}

}  // namespace weightfs::repo::replica_internal
