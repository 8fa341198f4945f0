// S3Store: the named files ("config", "refs/main", ...) at "<prefix>/<name>".
#include <algorithm>

#include "storage/s3_client.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::storage::s3 {
namespace {

struct Fetched {
  Bytes data;
  std::string etag;
};

// The file's content and ETag; nullopt when missing. A body over max_size is FileTooLarge.
Result<std::optional<Fetched>> Fetch(const S3Client& c, const std::string& name,
                                     size_t max_size = std::numeric_limits<size_t>::max()) {
  const std::string key = c.FileKey(name);
  S3Request request{"GET", key};
  request.max_body = max_size;
  ASSIGN_OR_RETURN(S3Response response, c.Send(request));
  if (response.status() == 404) return std::optional<Fetched>();
  if (response.status() != 200) return c.ErrorFor(response, "reading " + c.Describe(key));
  if (response.http.body_too_large) {
    uint64_t size = response.http.body.size() + 1;
    const std::string length = response.http.Header("content-length");
    if (!length.empty()) size = std::strtoull(length.c_str(), nullptr, 10);
    return FileTooLarge(name, std::max<uint64_t>(size, max_size + uint64_t{1}), max_size);
  }
  return std::optional<Fetched>(
      Fetched{std::move(response.http.body), response.http.Header("etag")});
}

bool SameContent(const std::optional<Fetched>& current, const std::optional<Bytes>& expected) {
  if (!current || !expected) return !current && !expected;
  return current->data == *expected;
}

Status Lost(const std::string& name) {
  return Conflict("compare-and-swap of " + name + " lost: it changed since it was read");
}

}  // namespace

Result<bool> S3Store::IsDirectoryName(const std::string& name) {
  bool found = false;
  RETURN_IF_ERROR(client_->List(client_->FileKey(name) + "/", "", 1, true, [&](const ListPage& p) {
    found = !p.contents.empty() || !p.common_prefixes.empty();
    return Status::Ok();
  }));
  return found;
}

Status S3Store::CheckWritable(const std::string& name) {
  ASSIGN_OR_RETURN(bool dir, IsDirectoryName(name));
  if (dir) return IsDirectory("writing " + name + ": Is a directory");
  for (size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    const std::string parent = client_->FileKey(name.substr(0, slash));
    ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"HEAD", parent}));
    if (response.status() == 200) {
      return NotDirectory("writing " + name + ": " + name.substr(0, slash) +
                          " is a file, not a directory");
    }
    if (response.status() != 404) {
      return client_->ErrorFor(response, "checking " + client_->Describe(parent));
    }
  }
  return Status::Ok();
}

Result<std::optional<Bytes>> S3Store::ReadFile(const std::string& name) {
  return ReadFileAtMost(name, std::numeric_limits<size_t>::max());
}

Result<std::optional<Bytes>> S3Store::ReadFileAtMost(const std::string& name, size_t max_size) {
  RETURN_IF_ERROR(ValidateFileName(name));
  ASSIGN_OR_RETURN(std::optional<Fetched> fetched, Fetch(*client_, name, max_size));
  if (fetched) return std::optional<Bytes>(std::move(fetched->data));
  ASSIGN_OR_RETURN(bool dir, IsDirectoryName(name));
  if (dir) return IsDirectory("reading " + name + ": Is a directory");
  return std::optional<Bytes>();
}

Status S3Store::WriteFile(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  RETURN_IF_ERROR(CheckWritable(name));
  const std::string key = client_->FileKey(name);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"PUT", key, {}, data}));
  if (response.status() == 200) return Status::Ok();
  return client_->ErrorFor(response, "writing " + client_->Describe(key));
}

Status S3Store::CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                                   ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  if (conditional_writes() == ConditionalWrites::kSupported) {
    return CasConditional(name, expected, data);
  }
  return CasSerialized(name, expected, data);
}

Status S3Store::CasConditional(const std::string& name, const std::optional<Bytes>& expected,
                               ByteView data) {
  ASSIGN_OR_RETURN(std::optional<Fetched> current, Fetch(*client_, name));
  if (!SameContent(current, expected)) return Lost(name);
  if (!current) RETURN_IF_ERROR(CheckWritable(name));
  const std::string key = client_->FileKey(name);
  if (current && current->etag.empty()) {
    return IoError("S3 sent no ETag for " + client_->Describe(key) +
                   ", so it cannot be replaced conditionally");
  }
  for (bool bare = bare_etag_.load();;) {
    S3Request request{"PUT", key, {{"if-none-match", "*"}}, data};
    if (current)
      request.headers = {{"if-match", bare ? UnquotedETag(current->etag) : current->etag}};
    ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
    if (response.status() == 200) {
      if (bare && !bare_etag_.exchange(true)) {
        client_->Log("S3 at " + client_->options().settings.endpoint +
                     " matches only bare ETags in If-Match; sending them so");
      }
      return Status::Ok();
    }
    if (response.status() == 412) {
      ASSIGN_OR_RETURN(std::optional<Fetched> now, Fetch(*client_, name));
      // An earlier send may have been applied (its answer lost, or a 5xx): then the file holds
      // exactly what was written, and the write succeeded. Callers write bytes unique to the
      // writer (sealed refs carry a random nonce, a lock record its host, pid and time), so a
      // loser of a race (radosgw answers it 500, then the retry 412) never finds its own bytes.
      if (response.sent_before && now &&
          std::equal(now->data.begin(), now->data.end(), data.begin(), data.end())) {
        return Status::Ok();
      }
      // Unchanged, yet its ETag was refused: the server may want ETags bare (radosgw does).
      if (current && now && now->etag == current->etag && !bare &&
          UnquotedETag(current->etag) != current->etag) {
        bare = true;
        continue;
      }
    }
    // 409: a concurrent conditional write to the same key won; 404: it was deleted meanwhile.
    if (response.status() == 412 || response.status() == 409 ||
        (current && response.status() == 404)) {
      return Lost(name);
    }
    return client_->ErrorFor(response, "writing " + client_->Describe(key));
  }
}

Status S3Store::CasSerialized(const std::string& name, const std::optional<Bytes>& expected,
                              ByteView data) {
  MutexLock lock(&cas_mu_);
  ASSIGN_OR_RETURN(std::optional<Fetched> current, Fetch(*client_, name));
  if (!SameContent(current, expected)) return Lost(name);
  if (!current) RETURN_IF_ERROR(CheckWritable(name));
  const std::string key = client_->FileKey(name);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"PUT", key, {}, data}));
  if (response.status() == 200) return Status::Ok();
  return client_->ErrorFor(response, "writing " + client_->Describe(key));
}

Status S3Store::CreateFileExclusive(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  const std::string key = client_->FileKey(name);
  const auto exists = [&] { return AlreadyExists("creating " + name + ": it exists"); };
  Status writable = CheckWritable(name);
  if (writable.code() == Code::kIsDirectory) return exists();
  RETURN_IF_ERROR(writable);
  S3Request request{"PUT", key, {}, data};
  const bool conditional = conditional_writes() == ConditionalWrites::kSupported;
  MutexLock lock(&cas_mu_);
  if (conditional) {
    lock.Unlock();
    request.headers = {{"if-none-match", "*"}};
  } else {
    ASSIGN_OR_RETURN(S3Response head, client_->Send(S3Request{"HEAD", key}));
    if (head.status() == 200) return exists();
    if (head.status() != 404) return client_->ErrorFor(head, "checking " + client_->Describe(key));
  }
  ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
  if (response.status() == 200) return Status::Ok();
  if (response.status() == 412 && response.sent_before) {
    ASSIGN_OR_RETURN(std::optional<Fetched> now, Fetch(*client_, name));
    if (now && std::equal(now->data.begin(), now->data.end(), data.begin(), data.end())) {
      return Status::Ok();
    }
  }
  if (response.status() == 412 || response.status() == 409) return exists();
  return client_->ErrorFor(response, "creating " + client_->Describe(key));
}

Status S3Store::DeleteFile(const std::string& name) {
  RETURN_IF_ERROR(ValidateFileName(name));
  const std::string key = client_->FileKey(name);
  ASSIGN_OR_RETURN(S3Response head, client_->Send(S3Request{"HEAD", key}));
  if (head.status() == 404) {
    ASSIGN_OR_RETURN(bool dir, IsDirectoryName(name));
    if (dir) return IsDirectory("deleting " + name + ": Is a directory");
    return NotFound("deleting " + name + ": no such file in " + location().Url());
  }
  if (head.status() != 200) return client_->ErrorFor(head, "checking " + client_->Describe(key));
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"DELETE", key}));
  if (response.status() == 204 || response.status() == 200) return Status::Ok();
  return client_->ErrorFor(response, "deleting " + client_->Describe(key));
}

Result<std::vector<std::string>> S3Store::ListFiles(const std::string& dir) {
  if (!dir.empty()) RETURN_IF_ERROR(ValidateFileName(dir));
  const std::string prefix = client_->base() + (dir.empty() ? "" : dir + "/");
  std::vector<std::string> names;
  RETURN_IF_ERROR(client_->List(prefix, "/", 0, false, [&](const ListPage& page) {
    for (const ListEntry& entry : page.contents) {
      if (!entry.key.starts_with(prefix)) continue;
      std::string name = entry.key.substr(client_->base().size());
      if (name == kConditionalWritesFile || name.starts_with(kProbePrefix)) continue;
      // A "directory marker" ("dir/") or a key no store name could have is not a file.
      if (!ValidateFileName(name).ok()) continue;
      names.push_back(std::move(name));
    }
    return Status::Ok();
  }));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace weightfs::storage::s3
