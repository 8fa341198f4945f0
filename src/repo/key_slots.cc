#include "weightfs/repo/key_slots.h"

#include <algorithm>

namespace weightfs::repo {
namespace {

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";

std::string SlotFile(const std::string& name) { return std::string(kKeysDir) + "/" + name; }

}  // namespace

KeySlotManager::KeySlotManager(storage::ObjectStore* store, Bytes repo_id,
                               const SecretBytes* master, const SecretBytes* mac_key)
    : store_(store), repo_id_(std::move(repo_id)), master_(master), mac_key_(mac_key) {}

Result<std::vector<KeySlotInfo>> KeySlotManager::ListKeySlots() const {
  ASSIGN_OR_RETURN(std::vector<std::string> files, store_->ListFiles(kKeysDir));
  std::vector<KeySlotInfo> out;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(std::optional<Bytes> data, store_->ReadFileAtMost(f, kMaxKeySlotBytes));
    if (!data) return NotFound(f + " is missing");
    auto info = ParseKeySlot(*data);
    if (!info.ok()) return info.status().WithContext(f);
    out.push_back(std::move(info).value());
  }
  return out;
}

Status KeySlotManager::AddKeySlot(const std::string& name, const std::string& role,
                                  const Credential& credential,
                                  const crypto::ScryptParams& scrypt) {
  ASSIGN_OR_RETURN(Bytes slot, WrapKeySlot(name, role, credential, scrypt, repo_id_,
                                           master_->view(), *mac_key_));
  Status s = store_->CreateFileExclusive(SlotFile(name), slot);
  if (s.code() == Code::kAlreadyExists)
    return AlreadyExists("a key slot named '" + name + "' already exists");
  return s;
}

Status KeySlotManager::RemoveKeySlot(const std::string& name) {
  RETURN_IF_ERROR(ValidateSlotName(name));
  ASSIGN_OR_RETURN(std::vector<KeySlotInfo> slots, ListKeySlots());
  bool exists =
      std::any_of(slots.begin(), slots.end(), [&](const KeySlotInfo& s) { return s.name == name; });
  if (!exists) return NotFound("no key slot named '" + name + "'");
  if (slots.size() == 1)
    return InvalidArgument("refusing to remove the last key slot: the repository would be lost");
  return store_->DeleteFile(SlotFile(name));
}

Status KeySlotManager::ChangeKeySlot(const std::string& name, const Credential& credential,
                                     const crypto::ScryptParams& scrypt) {
  RETURN_IF_ERROR(ValidateSlotName(name));
  const std::string file = SlotFile(name);
  ASSIGN_OR_RETURN(std::optional<Bytes> old, store_->ReadFileAtMost(file, kMaxKeySlotBytes));
  if (!old) return NotFound("no key slot named '" + name + "'");
  RETURN_IF_ERROR(VerifyKeySlot(*old, *mac_key_));
  ASSIGN_OR_RETURN(KeySlotInfo info, ParseKeySlot(*old));
  ASSIGN_OR_RETURN(Bytes slot, WrapKeySlot(name, info.role, credential, scrypt, repo_id_,
                                           master_->view(), *mac_key_));
  return store_->CompareAndSwapFile(file, old, slot);
}

std::vector<std::string> KeySlotManager::VerifyMetadata() const {
  std::vector<std::string> problems;
  auto config = store_->ReadFileAtMost(kConfigFile, kMaxConfigBytes);
  if (!config.ok() || !*config) {
    problems.push_back(config.ok() ? "config cannot be read"
                                   : "config cannot be read: " + config.status().message());
  } else if (Status s = VerifyConfig(**config, *mac_key_); !s.ok()) {
    problems.push_back(s.message());
  }
  auto files = store_->ListFiles(kKeysDir);
  if (!files.ok()) {
    problems.push_back("key slots cannot be listed: " + files.status().message());
    return problems;
  }
  for (const std::string& f : *files) {
    auto data = store_->ReadFileAtMost(f, kMaxKeySlotBytes);
    if (!data.ok() || !*data) {
      problems.push_back(f + " cannot be read" + (data.ok() ? "" : ": " + data.status().message()));
      continue;
    }
    if (Status s = VerifyKeySlot(**data, *mac_key_); !s.ok()) {
      problems.push_back(f + ": " + s.message());
      continue;
    }
    auto info = ParseKeySlot(**data);
    if (!info.ok() || f != SlotFile(info->name)) {
      problems.push_back(f + ": slot file name does not match the slot's name");
    }
  }
  return problems;
}

}  // namespace weightfs::repo
