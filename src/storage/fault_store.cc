#include "weightfs/storage/fault_store.h"

namespace weightfs::storage {
namespace {

Status InjectedFailure(Code code, const std::string& what) {
  return Status(code, "injected fault: " + what);
}

}  // namespace

FaultStore::FaultStore(ObjectStore* target, FaultPlan plan) : target_(target), plan_(plan) {}

void FaultStore::SetPlan(FaultPlan plan) {
  MutexLock lock(&mu_);
  plan_ = plan;
  // fail_writes_after counts from the moment the plan is set, so a test can let a set-up phase
  // write freely and then allow "N more writes".
  writes_.store(0);
}

// Check and count under mu_, so with N threads writing exactly fail_writes_after writes pass.
Status FaultStore::CountWrite() {
  MutexLock lock(&mu_);
  if (plan_.fail_writes_after >= 0 && writes_.load() >= plan_.fail_writes_after) {
    return InjectedFailure(plan_.fail_code, "write refused after " +
                                                std::to_string(plan_.fail_writes_after) +
                                                " writes (" + CodeName(plan_.fail_code) + ")");
  }
  writes_.fetch_add(1);
  return Status::Ok();
}

namespace {

void FlipFirstBit(Bytes* data) {
  if (!data->empty()) (*data)[0] ^= 1;
}

}  // namespace

Status FaultStore::Put(const ObjectId& id, ByteView data) {
  RETURN_IF_ERROR(CountWrite().WithContext("storing object " + id.Hex()));
  return target_->Put(id, data);
}

FaultPlan FaultStore::CurrentPlan() const {
  MutexLock lock(&mu_);
  return plan_;
}

Result<Bytes> FaultStore::Get(const ObjectId& id) {
  const FaultPlan plan = CurrentPlan();
  if (plan.fail_reads) return InjectedFailure(Code::kIoError, "reading object " + id.Hex());
  ASSIGN_OR_RETURN(Bytes data, target_->Get(id));
  if (plan.corrupt_reads) FlipFirstBit(&data);
  return data;
}

Result<Bytes> FaultStore::GetRange(const ObjectId& id, uint64_t offset, uint64_t len) {
  const FaultPlan plan = CurrentPlan();
  if (plan.fail_reads) return InjectedFailure(Code::kIoError, "reading object " + id.Hex());
  ASSIGN_OR_RETURN(Bytes data, target_->GetRange(id, offset, len));
  if (plan.corrupt_reads) FlipFirstBit(&data);
  return data;
}

Result<bool> FaultStore::Contains(const ObjectId& id) { return target_->Contains(id); }

Result<uint64_t> FaultStore::Size(const ObjectId& id) { return target_->Size(id); }

Status FaultStore::Delete(const ObjectId& id) { return target_->Delete(id); }

Status FaultStore::ForEach(const std::function<Status(const ObjectId&, uint64_t)>& fn) {
  return target_->ForEach(fn);
}

Result<int64_t> FaultStore::MTime(const ObjectId& id) { return target_->MTime(id); }
Status FaultStore::Touch(const ObjectId& id) { return target_->Touch(id); }

Status FaultStore::Sync() {
  if (CurrentPlan().fail_sync) return InjectedFailure(Code::kIoError, "sync failed");
  return target_->Sync();
}

Result<std::optional<Bytes>> FaultStore::ReadFile(const std::string& name) {
  if (CurrentPlan().fail_reads) return InjectedFailure(Code::kIoError, "reading " + name);
  return target_->ReadFile(name);
}

Status FaultStore::WriteFile(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(CountWrite().WithContext("writing " + name));
  return target_->WriteFile(name, data);
}

Status FaultStore::CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                                      ByteView data) {
  RETURN_IF_ERROR(CountWrite().WithContext("writing " + name));
  return target_->CompareAndSwapFile(name, expected, data);
}

Status FaultStore::CreateFileExclusive(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(CountWrite().WithContext("creating " + name));
  return target_->CreateFileExclusive(name, data);
}

Status FaultStore::DeleteFile(const std::string& name) { return target_->DeleteFile(name); }

bool FaultStore::DropCachedCopy(const ObjectId& id) { return target_->DropCachedCopy(id); }

Result<std::unique_ptr<FileLock>> FaultStore::TryLock(const std::string& name, bool shared) {
  return target_->TryLock(name, shared);
}

Result<std::vector<std::string>> FaultStore::ListFiles(const std::string& dir) {
  return target_->ListFiles(dir);
}

}  // namespace weightfs::storage
