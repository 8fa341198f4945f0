#include "weightfs/repo/policy_store.h"

#include "repo/records.h"
#include "weightfs/core/clock.h"

namespace weightfs::repo {
namespace {

constexpr char kPolicyRef[] = "refs/policy";
// A policy history longer than this is taken to loop.
constexpr size_t kMaxPolicyVersions = 1000000;

}  // namespace

PolicyStore::PolicyStore(ObjectLayer* objects, RefUpdater* refs, std::string author,
                         std::string author_role)
    : objects_(objects),
      refs_(refs),
      author_(std::move(author)),
      author_role_(std::move(author_role)) {}

Result<std::optional<PolicyVersion>> PolicyStore::LoadRefValue(
    const std::optional<ObjectId>& id) const {
  if (!id) return std::optional<PolicyVersion>();
  ASSIGN_OR_RETURN(PolicyObject policy, objects_->LoadPolicy(*id));
  return std::optional<PolicyVersion>(PolicyVersion{*id, std::move(policy)});
}

Result<std::optional<PolicyVersion>> PolicyStore::PolicyAnchor() const {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, refs_->ReadMain());
  if (!main.value.head) return std::optional<PolicyVersion>();
  ASSIGN_OR_RETURN(SnapshotObject s, objects_->LoadSnapshot(*main.value.head));
  return LoadRefValue(s.policy);
}

Status PolicyStore::CheckAnchored(const std::optional<PolicyVersion>& current,
                                  const PolicyVersion& anchor) const {
  const std::string fix =
      ". If that was not an administrator, someone changed the repository's files; an admin "
      "can store the intended policy again with `weightfs policy set`";
  const std::string anchored = "policy #" + std::to_string(anchor.policy.seq);
  if (!current) {
    return Corruption("refs/policy is missing, but the newest snapshot was recorded under " +
                      anchored + ": the policy was deleted" + fix);
  }
  if (current->policy.seq < anchor.policy.seq) {
    return Corruption("refs/policy holds policy #" + std::to_string(current->policy.seq) +
                      ", older than " + anchored +
                      " under which the newest snapshot was recorded: it was rolled back" + fix);
  }
  // The anchored version must be in the current one's history.
  PolicyVersion at = *current;
  while (at.policy.seq > anchor.policy.seq && at.policy.parent) {
    ObjectId parent = *at.policy.parent;
    ASSIGN_OR_RETURN(PolicyObject p, objects_->LoadPolicy(parent));
    if (p.seq >= at.policy.seq) {
      return Corruption("policy " + parent.Hex() + " does not precede its successor (sequence " +
                        std::to_string(p.seq) + " after " + std::to_string(at.policy.seq) +
                        "); run `weightfs check`");
    }
    at = PolicyVersion{parent, std::move(p)};
  }
  if (at.id != anchor.id) {
    return Corruption("the policy history in refs/policy does not contain " + anchored +
                      ", under which the newest snapshot was recorded: it was replaced" + fix);
  }
  return Status::Ok();
}

Result<Versioned<std::optional<PolicyVersion>>> PolicyStore::ReadPolicy() const {
  ASSIGN_OR_RETURN(auto current, ReadPolicyRef());
  ASSIGN_OR_RETURN(std::optional<PolicyVersion> anchor, PolicyAnchor());
  if (anchor) RETURN_IF_ERROR(CheckAnchored(current.value, *anchor));
  return current;
}

Result<Versioned<std::optional<PolicyVersion>>> PolicyStore::ReadPolicyRef() const {
  ASSIGN_OR_RETURN(Versioned<std::optional<ObjectId>> ref, refs_->ReadPolicyRef());
  Versioned<std::optional<PolicyVersion>> out;
  ASSIGN_OR_RETURN(out.value, LoadRefValue(ref.value));
  out.raw = std::move(ref.raw);
  return out;
}

Result<PolicyVersion> PolicyStore::SetPolicy(const std::string& text) {
  return SetPolicyOn(text, std::nullopt);
}

Result<PolicyVersion> PolicyStore::SetPolicyIfCurrent(
    const std::string& text, const std::optional<ObjectId>& expected_current) {
  return SetPolicyOn(text, std::optional<std::optional<ObjectId>>(expected_current));
}

Result<PolicyVersion> PolicyStore::StoreNext(const std::optional<PolicyVersion>& current,
                                             const std::string& text) {
  ASSIGN_OR_RETURN(std::optional<PolicyVersion> anchor, PolicyAnchor());
  // A lost or rolled-back refs/policy continues from the version the head snapshot names.
  std::optional<PolicyVersion> base = current;
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
  next.author = author_;
  next.author_role = author_role_;
  next.text = text;
  ASSIGN_OR_RETURN(ObjectId id, objects_->PutPolicy(next));
  RETURN_IF_ERROR(objects_->Sync());
  return PolicyVersion{id, std::move(next)};
}

Result<PolicyVersion> PolicyStore::SetPolicyOn(
    const std::string& text, const std::optional<std::optional<ObjectId>>& expected) {
  std::optional<PolicyVersion> stored;
  RETURN_IF_ERROR(refs_->UpdateRef(
      kPolicyRef, [&](const std::optional<Bytes>& plain) -> Result<std::optional<Bytes>> {
        std::optional<ObjectId> now;
        if (plain) {
          ASSIGN_OR_RETURN(now, DecodePolicyRef(*plain));
        }
        ASSIGN_OR_RETURN(std::optional<PolicyVersion> current, LoadRefValue(now));
        if (expected && now != *expected) {
          return Conflict("the policy changed while this command ran (now " +
                          (current ? "#" + std::to_string(current->policy.seq) +
                                         ", set by key slot '" + current->policy.author + "'"
                                   : std::string("none")) +
                          "); check it with `weightfs policy show` and run the command again");
        }
        ASSIGN_OR_RETURN(stored, StoreNext(current, text));
        return std::optional<Bytes>(EncodePolicyRef(stored->id));
      }));
  return std::move(*stored);
}

Result<std::vector<PolicyVersion>> PolicyStore::ListPolicies() const {
  ASSIGN_OR_RETURN(auto current, ReadPolicy());
  std::vector<PolicyVersion> out;
  if (!current.value) return out;
  out.push_back(*current.value);
  while (out.back().policy.parent) {
    if (out.size() > kMaxPolicyVersions) return Corruption("the policy history does not end");
    ObjectId id = *out.back().policy.parent;
    ASSIGN_OR_RETURN(PolicyObject p, objects_->LoadPolicy(id));
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
