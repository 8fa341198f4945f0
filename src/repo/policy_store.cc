// The repository's policy versions (issue #5): policy objects chained by parent, published through
// the sealed refs/policy with compare-and-swap and anchored in the snapshot chain (every snapshot
// names the policy in force when it was recorded).
#include "repo/records.h"
#include "weightfs/core/clock.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {
namespace {

constexpr char kPolicyRef[] = "refs/policy";

}  // namespace

Result<PolicyObject> Repository::LoadPolicy(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kPolicy, id));
  auto p = DecodePolicy(plain);
  if (!p.ok()) return p.status().WithContext("policy object " + id.Hex());
  return p;
}

Result<std::optional<Repository::PolicyVersion>> Repository::PolicyAnchor() const {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, ReadMain());
  if (!main.value.head) return std::optional<PolicyVersion>();
  ASSIGN_OR_RETURN(SnapshotObject s, LoadSnapshot(*main.value.head));
  if (!s.policy) return std::optional<PolicyVersion>();
  ASSIGN_OR_RETURN(PolicyObject p, LoadPolicy(*s.policy));
  return std::optional<PolicyVersion>(PolicyVersion{*s.policy, std::move(p)});
}

Result<Versioned<std::optional<Repository::PolicyVersion>>> Repository::ReadPolicy() const {
  ASSIGN_OR_RETURN(auto current, ReadPolicyRef());
  ASSIGN_OR_RETURN(std::optional<PolicyVersion> anchor, PolicyAnchor());
  if (!anchor) return current;
  const std::string fix =
      ". If that was not an administrator, someone changed the repository's files; an admin "
      "can store the intended policy again with `weightfs policy set`";
  const std::string anchored = "policy #" + std::to_string(anchor->policy.seq);
  if (!current.value) {
    return Corruption("refs/policy is missing, but the newest snapshot was recorded under " +
                      anchored + ": the policy was deleted" + fix);
  }
  if (current.value->policy.seq < anchor->policy.seq) {
    return Corruption("refs/policy holds policy #" + std::to_string(current.value->policy.seq) +
                      ", older than " + anchored +
                      " under which the newest snapshot was recorded: it was rolled back" + fix);
  }
  // The anchored version must be in the current one's history.
  PolicyVersion at = *current.value;
  while (at.policy.seq > anchor->policy.seq && at.policy.parent) {
    ObjectId parent = *at.policy.parent;
    ASSIGN_OR_RETURN(PolicyObject p, LoadPolicy(parent));
    if (p.seq >= at.policy.seq) {
      return Corruption("policy " + parent.Hex() + " does not precede its successor (sequence " +
                        std::to_string(p.seq) + " after " + std::to_string(at.policy.seq) +
                        "); run `weightfs check`");
    }
    at = PolicyVersion{parent, std::move(p)};
  }
  if (at.id != anchor->id) {
    return Corruption("the policy history in refs/policy does not contain " + anchored +
                      ", under which the newest snapshot was recorded: it was replaced" + fix);
  }
  return current;
}

Result<Versioned<std::optional<Repository::PolicyVersion>>> Repository::ReadPolicyRef() const {
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, store_->ReadFileAtMost(kPolicyRef, kMaxRefBytes));
  Versioned<std::optional<PolicyVersion>> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, OpenRef(kPolicyRef, *raw));
  ASSIGN_OR_RETURN(ObjectId id, DecodePolicyRef(plain));
  ASSIGN_OR_RETURN(PolicyObject policy, LoadPolicy(id));
  out.value = PolicyVersion{id, std::move(policy)};
  out.raw = std::move(raw);
  return out;
}

Result<Repository::PolicyVersion> Repository::SetPolicy(const std::string& text) {
  return SetPolicyOn(text, std::nullopt);
}

Result<Repository::PolicyVersion> Repository::SetPolicyIfCurrent(
    const std::string& text, const std::optional<ObjectId>& expected_current) {
  return SetPolicyOn(text, std::optional<std::optional<ObjectId>>(expected_current));
}

Result<Repository::PolicyVersion> Repository::SetPolicyOn(
    const std::string& text, const std::optional<std::optional<ObjectId>>& expected) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    ASSIGN_OR_RETURN(auto current, ReadPolicyRef());
    if (expected) {
      const std::optional<ObjectId> now =
          current.value ? std::optional<ObjectId>(current.value->id) : std::nullopt;
      if (now != *expected) {
        return Status(
            Code::kConflict,
            "the policy changed while this command ran (now " +
                (current.value ? "#" + std::to_string(current.value->policy.seq) +
                                     ", set by key slot '" + current.value->policy.author + "'"
                               : std::string("none")) +
                "); check it with `weightfs policy show` and run the command again");
      }
    }
    ASSIGN_OR_RETURN(std::optional<PolicyVersion> anchor, PolicyAnchor());
    // A lost or rolled-back refs/policy continues from the version the head snapshot names.
    std::optional<PolicyVersion> base = current.value;
    if (anchor && (!base || (base->policy.seq <= anchor->policy.seq && base->id != anchor->id)))
      base = anchor;
    PolicyObject next;
    if (base) {
      next.parent = base->id;
      next.seq = base->policy.seq + 1;
    } else {
      next.seq = 1;
    }
    next.time_ns = NowNs();
    next.author = slot_name_;
    next.author_role = role_;
    next.text = text;
    ASSIGN_OR_RETURN(ObjectId id, PutObject(ObjectType::kPolicy, EncodePolicy(next)));
    RETURN_IF_ERROR(Sync());
    ASSIGN_OR_RETURN(Bytes sealed, SealRef(kPolicyRef, EncodePolicyRef(id)));
    Status s = store_->CompareAndSwapFile(kPolicyRef, current.raw, sealed);
    if (s.ok()) return PolicyVersion{id, std::move(next)};
    if (s.code() != Code::kConflict) return s;
  }
  return Status(
      Code::kConflict,
      "could not write refs/policy: other writers kept changing it; run the command again");
}

Result<std::vector<Repository::PolicyVersion>> Repository::ListPolicies() const {
  ASSIGN_OR_RETURN(auto current, ReadPolicy());
  std::vector<PolicyVersion> out;
  if (!current.value) return out;
  out.push_back(*current.value);
  while (out.back().policy.parent) {
    if (out.size() > 1000000) return Corruption("the policy history does not end");
    ObjectId id = *out.back().policy.parent;
    ASSIGN_OR_RETURN(PolicyObject p, LoadPolicy(id));
    if (p.seq + 1 != out.back().policy.seq) {
      return Corruption("policy " + id.Hex() + " has sequence number " + std::to_string(p.seq) +
                        ", expected " + std::to_string(out.back().policy.seq - 1));
    }
    out.push_back(PolicyVersion{id, std::move(p)});
  }
  if (out.back().policy.seq != 1) {
    return Corruption("the policy history ends at #" + std::to_string(out.back().policy.seq) +
                      " (" + out.back().id.Hex() +
                      "), which names no predecessor; it should start at #1");
  }
  return out;
}

}  // namespace weightfs::repo
