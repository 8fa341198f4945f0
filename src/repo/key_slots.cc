#include "weightfs/repo/key_slots.h"

#include <algorithm>

namespace weightfs::repo {
namespace {

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";

std::string SlotFile(const std::string& name) { return std::string(kKeysDir) + "/" + name; }

}  // namespace

KeySlotManager::KeySlotManager(storage::ObjectStore* store, Bytes repo_id, const Keyring* keys)
    : store_(store), repo_id_(std::move(repo_id)), keys_(keys) {}

Result<Bytes> KeySlotManager::Wrap(const std::string& name, const std::string& role,
                                   const Credential& credential, const crypto::ScryptParams& scrypt,
                                   const std::optional<std::vector<uint32_t>>& key_ids) const {
  if (!key_ids) {
    if (!keys_->master) {
      return PermissionDenied("slot '" + name +
                              "' would hold the master secret, which this key slot does not hold "
                              "to give; unlock with an administrator's slot");
    }
    return WrapKeySlot(name, role, credential, scrypt, repo_id_, keys_->master->view(),
                       keys_->config_mac);
  }
  for (uint32_t id : *key_ids) {
    if (!keys_->Holds(id)) {
      return PermissionDenied("slot '" + name + "' needs key id " + std::to_string(id) +
                              ", which this key slot does not hold to give");
    }
  }
  std::vector<uint32_t> ids = *key_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  SecretBytes bundle = EncodeKeyBundle(*keys_, ids);
  return WrapKeySlot(name, role, credential, scrypt, repo_id_, bundle.view(), keys_->config_mac,
                     ids);
}

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
                                  const Credential& credential, const crypto::ScryptParams& scrypt,
                                  const std::optional<std::vector<uint32_t>>& key_ids) {
  ASSIGN_OR_RETURN(Bytes slot, Wrap(name, role, credential, scrypt, key_ids));
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
  RETURN_IF_ERROR(VerifyKeySlot(*old, keys_->config_mac));
  ASSIGN_OR_RETURN(KeySlotInfo info, ParseKeySlot(*old));
  ASSIGN_OR_RETURN(Bytes slot, Wrap(name, info.role, credential, scrypt, info.key_ids));
  return store_->CompareAndSwapFile(file, old, slot);
}

std::vector<std::string> KeySlotManager::VerifyMetadata() const {
  std::vector<std::string> problems;
  auto config = store_->ReadFileAtMost(kConfigFile, kMaxConfigBytes);
  if (!config.ok() || !*config) {
    problems.push_back(config.ok() ? "config cannot be read"
                                   : "config cannot be read: " + config.status().message());
  } else if (Status s = VerifyConfig(**config, keys_->config_mac); !s.ok()) {
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
    if (Status s = VerifyKeySlot(**data, keys_->config_mac); !s.ok()) {
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
