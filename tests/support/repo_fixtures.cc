#include "support/repo_fixtures.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace weightfs::repo::testing {

Credential Passphrase(const std::string& p) {
  Credential c;
  c.kind = Credential::Kind::kPassphrase;
  c.secret = SecretBytes(AsBytes(p));
  return c;
}

InitOptions FastInit() {
  InitOptions o;
  o.scrypt = kTestScrypt;
  o.allow_weak_kdf = true;
  return o;
}

void GateStore::Close() {
  std::lock_guard lock(mu_);
  open_ = false;
}

void GateStore::Open() {
  std::lock_guard lock(mu_);
  open_ = true;
  cv_.notify_all();
}

Result<bool> GateStore::Contains(const ObjectId& id) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return open_; });
  lock.unlock();
  return FaultStore::Contains(id);
}

std::unique_ptr<storage::ObjectStore> LocalStoreAt(const std::string& dir) {
  auto s = storage::OpenLocalStore(dir);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::map<ObjectId, Bytes> AllObjects(storage::ObjectStore* store) {
  std::map<ObjectId, Bytes> out;
  Status s = store->ForEach([&](const ObjectId& id, uint64_t) {
    ASSIGN_OR_RETURN(out[id], store->Get(id));
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

uint64_t StoredBytes(storage::ObjectStore* store) {
  uint64_t total = 0;
  Status s = store->ForEach([&](const ObjectId&, uint64_t size) {
    total += size;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return total;
}

Result<ObjectId> WriteContent(Repository* repo, ByteView data, size_t piece, FileObject* file,
                              uint64_t* new_bytes, uint32_t key_id) {
  FileWriter w(repo, key_id);
  for (size_t off = 0; off < data.size(); off += piece) {
    RETURN_IF_ERROR(w.Write(data.subspan(off, std::min(piece, data.size() - off))));
  }
  ASSIGN_OR_RETURN(ObjectId id, w.Finish());
  if (file) *file = w.file();
  if (new_bytes) *new_bytes = w.new_bytes();
  return id;
}

Result<Bytes> ReadContent(const Repository& repo, const ObjectId& file_id) {
  ASSIGN_OR_RETURN(FileObject f, repo.objects().LoadFile(file_id));
  FileReader r(&repo, std::move(f));
  Bytes out;
  RETURN_IF_ERROR(r.ReadAt(0, r.size(), &out));
  return out;
}

TreeEntry FileEntry(const ObjectId& id, uint64_t size, uint32_t mode) {
  TreeEntry e;
  e.type = EntryType::kFile;
  e.mode = mode;
  e.size = size;
  e.mtime_ns = 1700000000123456789;
  e.id = id;
  return e;
}

Result<SnapshotInfo> CommitFile(Repository* repo, const std::string& path, ByteView data,
                                const std::string& message) {
  ASSIGN_OR_RETURN(uint32_t key_id, repo->objects().WriteKeyFor(path));
  ASSIGN_OR_RETURN(ObjectId id, WriteContent(repo, data, 1 << 20, nullptr, nullptr, key_id));
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  return repo->CommitSnapshot(
      [&](const MainRef& m) {
        return PutAtPath(repo, m.live_root, parts, FileEntry(id, data.size()));
      },
      message);
}

}  // namespace weightfs::repo::testing
