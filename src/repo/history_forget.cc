// Forget: drop snapshots from the chain by a retention policy. See history.h for the policy and
// for why sequence numbers keep growing.
#include <ctime>
#include <set>

#include "weightfs/repo/history.h"

namespace weightfs::repo {
namespace {

// The chain from main's head back to its oldest snapshot, newest first. Like
// Repository::ListSnapshots, but read from the given refs/main value so the result belongs to
// the bytes the caller will compare-and-swap against.
Result<std::vector<SnapshotInfo>> Chain(const Repository& repo, const MainRef& main) {
  std::vector<SnapshotInfo> out;
  std::optional<ObjectId> next = main.head;
  uint64_t expect = main.head_seq;
  while (next) {
    ASSIGN_OR_RETURN(SnapshotObject s, repo.objects().LoadSnapshot(*next));
    if (s.seq != expect || expect == 0) {
      return Corruption("snapshot " + next->Hex() + " has sequence number " +
                        std::to_string(s.seq) + ", expected " + std::to_string(expect));
    }
    --expect;
    std::optional<ObjectId> parent = s.parent;
    out.push_back(SnapshotInfo{*next, std::move(s)});
    next = parent;
  }
  return out;
}

std::string UtcFormat(int64_t time_ns, const char* format) {
  auto t = static_cast<std::time_t>(time_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

// Fills decisions (newest first) for chain under policy.
std::vector<ForgetDecision> Decide(const std::vector<SnapshotInfo>& chain,
                                   const ForgetPolicy& policy,
                                   const std::map<std::string, ObjectId>& tags) {
  std::map<ObjectId, std::vector<std::string>> tags_of;
  for (const auto& [name, id] : tags) tags_of[id].push_back(name);
  std::set<std::string> days, weeks;
  std::vector<ForgetDecision> out;
  for (size_t i = 0; i < chain.size(); ++i) {
    ForgetDecision d;
    d.snapshot = chain[i];
    if (auto it = tags_of.find(chain[i].id); it != tags_of.end()) d.tags = it->second;
    if (i == 0) d.reasons.emplace_back("head");
    if (i < static_cast<size_t>(policy.keep_last)) d.reasons.emplace_back("last");
    // Newest first, so the first snapshot seen in a day (week) is that day's newest.
    const std::string day = UtcFormat(chain[i].snapshot.time_ns, "%Y-%m-%d");
    if (days.insert(day).second && days.size() <= static_cast<size_t>(policy.keep_daily)) {
      d.reasons.push_back("daily " + day);
    }
    const std::string week = UtcFormat(chain[i].snapshot.time_ns, "%G-W%V");
    if (weeks.insert(week).second && weeks.size() <= static_cast<size_t>(policy.keep_weekly)) {
      d.reasons.push_back("weekly " + week);
    }
    if (policy.keep_tagged && !d.tags.empty()) {
      std::string r = "tagged";
      for (const auto& t : d.tags) r += " " + t;
      d.reasons.push_back(r);
    }
    d.keep = !d.reasons.empty();
    out.push_back(std::move(d));
  }
  return out;
}

// Remaps tags of rewritten snapshots and removes those of forgotten ones (unless keep_tagged:
// then a tag that appeared meanwhile on a forgotten snapshot stays, and gc keeps its objects).
Status RewriteTags(Repository* repo, const std::map<ObjectId, ObjectId>& renamed,
                   const std::set<ObjectId>& forgotten, bool keep_tagged,
                   std::vector<std::string>* removed) {
  return repo->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    removed->clear();
    TagMap next;
    for (const auto& [name, id] : *tags) {
      if (auto it = renamed.find(id); it != renamed.end()) {
        next[name] = it->second;
      } else if (forgotten.count(id) > 0 && !keep_tagged) {
        removed->push_back(name);
      } else {
        next[name] = id;
      }
    }
    if (next == *tags) return false;
    *tags = std::move(next);
    return true;
  });
}

// Stores the kept snapshots of result->decisions as a new chain, oldest first, numbered so that
// the new head gets new_head_seq (see history.h); fills result->renamed and *forgotten and
// returns the new head. Syncs the new objects.
Result<SnapshotInfo> RewriteKept(Repository* repo, uint64_t new_head_seq, ForgetResult* result,
                                 std::set<ObjectId>* forgotten) {
  std::vector<const ForgetDecision*> kept;
  for (size_t i = result->decisions.size(); i-- > 0;) {  // oldest first
    const ForgetDecision& decision = result->decisions[i];
    if (decision.keep) {
      kept.push_back(&decision);
    } else {
      forgotten->insert(decision.snapshot.id);
    }
  }
  uint64_t seq = new_head_seq - (kept.size() - 1);
  std::optional<ObjectId> parent;
  SnapshotInfo head;
  for (const ForgetDecision* d : kept) {
    SnapshotObject s = d->snapshot.snapshot;
    s.parent = parent;
    s.seq = seq++;
    s.signature.clear();  // a signature would cover the old parent and number
    ASSIGN_OR_RETURN(ObjectId id, repo->objects().PutSnapshot(s));
    result->renamed[d->snapshot.id] = id;
    parent = id;
    head = SnapshotInfo{id, std::move(s)};
  }
  RETURN_IF_ERROR(repo->objects().Sync());
  return head;
}

}  // namespace

Result<ForgetResult> Forget(Repository* repo, const ForgetPolicy& policy, bool dry_run) {
  if (policy.keep_last < 0 || policy.keep_daily < 0 || policy.keep_weekly < 0) {
    return InvalidArgument("keep counts cannot be negative");
  }
  if (policy.Empty()) {
    return InvalidArgument(
        "no policy given (--keep-last, --keep-daily, --keep-weekly or --keep-tagged): "
        "refusing to forget every snapshot but the head");
  }
  ForgetResult result;
  std::set<ObjectId> forgotten;
  std::optional<SnapshotInfo> head;
  // A snapshot or commit that comes in meanwhile makes UpdateMain decide again on the new chain.
  RETURN_IF_ERROR(repo->refs().UpdateMain([&](MainRef* main) -> Result<bool> {
    result = ForgetResult{};
    forgotten.clear();
    head.reset();
    ASSIGN_OR_RETURN(std::vector<SnapshotInfo> chain, Chain(*repo, *main));
    ASSIGN_OR_RETURN(auto tags, repo->refs().ReadTags());
    result.decisions = Decide(chain, policy, tags.value);
    if (dry_run || result.forgotten() == 0) return false;
    // Oldest kept first; the new head gets the old head's number + 1 (see history.h).
    const uint64_t new_head_seq = main->head_seq + 1;
    ASSIGN_OR_RETURN(head, RewriteKept(repo, new_head_seq, &result, &forgotten));
    main->head = head->id;
    main->head_seq = new_head_seq;
    return true;
  }));
  if (!head) return result;
  // refs/main is published; tags still naming old snapshot objects stay readable until this
  // finishes (gc marks from refs/tags too).
  RETURN_IF_ERROR(
      RewriteTags(repo, result.renamed, forgotten, policy.keep_tagged, &result.removed_tags)
          .WithContext("the snapshots were forgotten but the tags were not updated"));
  result.new_head = std::move(*head);
  return result;
}

}  // namespace weightfs::repo
