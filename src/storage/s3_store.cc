// S3Store: opening, the conditional-writes probe and the object namespace. Named files are in
// s3_store_files.cc.
#include "weightfs/storage/s3_store.h"

#include <charconv>
#include <ctime>
#include <limits>
#include <random>

#include "storage/s3_client.h"
#include "weightfs/core/names.h"

namespace weightfs::storage::s3 {
namespace {

Status Missing(const S3Client& c, const ObjectId& id) {
  return NotFound("object " + id.Hex() + " not found in " + c.options().location.Url());
}

Result<uint64_t> ParseUint(const std::string& s, const std::string& what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return Corruption("S3 sent a malformed " + what + " '" + s.substr(0, 60) + "'");
  }
  return v;
}

// An HTTP date ("Mon, 07 Dec 2026 16:52:03 GMT") in seconds since the epoch.
Result<int64_t> ParseHttpDate(const std::string& s) {
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  char month[4] = {};
  int day = 0, year = 0, hour = 0, min = 0, sec = 0;
  if (std::sscanf(s.c_str(), "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &day, month, &year, &hour, &min,
                  &sec) != 6) {
    return Corruption("S3 sent a malformed Last-Modified date '" + s.substr(0, 60) + "'");
  }
  size_t m = kMonths.find(month);
  if (m == std::string_view::npos || m % 3 != 0) {
    return Corruption("S3 sent a Last-Modified date with an unknown month '" + s.substr(0, 60) +
                      "'");
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = static_cast<int>(m / 3);
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return static_cast<int64_t>(::timegm(&tm));
}

// "bytes=OFFSET-LAST" for len bytes at offset (open-ended when the end does not fit).
std::string RangeHeader(uint64_t offset, uint64_t len) {
  std::string r = "bytes=" + std::to_string(offset) + "-";
  if (len <= std::numeric_limits<uint64_t>::max() - offset) r += std::to_string(offset + len - 1);
  return r;
}

// A 206 answer must start where it was asked to.
Status CheckRangeStart(const S3Client& c, const S3Response& r, uint64_t offset,
                       const std::string& key) {
  if (r.status() != 206) return Status::Ok();
  const std::string range = r.http.Header("content-range");
  const std::string want = "bytes " + std::to_string(offset) + "-";
  if (range.compare(0, want.size(), want) == 0) return Status::Ok();
  return IoError("S3 answered a read of " + c.Describe(key) + " at offset " +
                 std::to_string(offset) + " with the range '" + range.substr(0, 60) + "'");
}

std::string RandomHex() {
  std::random_device rd;
  return ToHex(AsBytes(std::to_string(rd()) + std::to_string(rd()))).substr(0, 16);
}

}  // namespace

S3Store::S3Store(std::unique_ptr<S3Client> client) : client_(std::move(client)) {}
S3Store::~S3Store() = default;

Result<std::unique_ptr<S3Store>> S3Store::Open(StoreOptions options) {
  std::unique_ptr<S3Store> store(new S3Store(std::make_unique<S3Client>(std::move(options))));
  RETURN_IF_ERROR(store->CheckBucket());
  ASSIGN_OR_RETURN(std::optional<Bytes> recorded, store->ReadFile(kConditionalWritesFile));
  if (recorded) {
    const std::string_view v = AsString(*recorded);
    store->conditional_ = v == "supported\n"     ? ConditionalWrites::kSupported
                          : v == "unsupported\n" ? ConditionalWrites::kUnsupported
                                                 : ConditionalWrites::kUnknown;
  }
  return store;
}

Status S3Store::CheckBucket() {
  S3Request request{"GET", ""};
  request.query = {{"list-type", "2"}, {"max-keys", "0"}, {"prefix", client_->base()}};
  ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
  if (response.status() == 200) return Status::Ok();
  return client_->ErrorFor(response, "listing " + location().Url());
}

ConditionalWrites S3Store::conditional_writes() const { return conditional_.load(); }
const Location& S3Store::location() const { return client_->options().location; }

Result<ConditionalWrites> S3Store::ProbeConditionalWrites() {
  const std::string key = client_->FileKey(std::string(kProbePrefix) + RandomHex());
  const std::string what = "probing conditional writes at " + client_->Describe(key);
  auto put = [&](const HeaderList& headers) -> Result<S3Response> {
    ASSIGN_OR_RETURN(S3Response response,
                     client_->Send(S3Request{"PUT", key, headers, AsBytes("probe")}));
    // Refused credentials or access fail the probe; any other refusal of a conditional PUT
    // (412, 501 NotImplemented, 400) is an answer.
    if (response.status() == 403 || (response.status() >= 300 && headers.empty())) {
      return client_->ErrorFor(response, what);
    }
    return response;
  };
  auto status = [&](const HeaderList& headers) -> Result<long> {
    ASSIGN_OR_RETURN(S3Response response, put(headers));
    return response.status();
  };
  // The scratch object; every conditional PUT below writes the same bytes, so its ETag stays.
  ASSIGN_OR_RETURN(S3Response created, put({}));
  const std::string etag = created.http.Header("etag");
  ASSIGN_OR_RETURN(long if_none_match, status({{"if-none-match", "*"}}));
  ASSIGN_OR_RETURN(long matched, status({{"if-match", etag}}));
  bool bare = false;
  if (matched == 412 && UnquotedETag(etag) != etag) {
    ASSIGN_OR_RETURN(matched, status({{"if-match", UnquotedETag(etag)}}));
    bare = matched == 200;
  }
  const std::string wrong = "00000000000000000000000000000000";
  ASSIGN_OR_RETURN(long mismatched, status({{"if-match", bare ? wrong : "\"" + wrong + "\""}}));
  const bool supported =
      !etag.empty() && if_none_match == 412 && matched == 200 && mismatched == 412;
  auto deleted = client_->Send(S3Request{"DELETE", key});
  if (!deleted.ok()) return deleted.status();
  RETURN_IF_ERROR(
      WriteFile(kConditionalWritesFile, AsBytes(supported ? "supported\n" : "unsupported\n")));
  bare_etag_ = supported && bare;
  conditional_ = supported ? ConditionalWrites::kSupported : ConditionalWrites::kUnsupported;
  client_->Log("S3 at " + client_->options().settings.endpoint +
               (supported ? " refuses failed conditional writes: compare-and-swap is atomic"
                          : " ignores conditional writes: compare-and-swap is atomic only "
                            "within one process"));
  return conditional_.load();
}

Status S3Store::Put(const ObjectId& id, ByteView data) {
  const std::string key = client_->ObjectKey(id);
  S3Request request{"PUT", key, {}, data};
  if (conditional_writes() == ConditionalWrites::kSupported) {
    request.headers = {{"if-none-match", "*"}};  // an existing object stays as it is
  } else {
    ASSIGN_OR_RETURN(bool present, Contains(id));
    if (present) return Status::Ok();
  }
  for (int conflicts = 0;; ++conflicts) {
    ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
    if (response.status() == 200 || response.status() == 412) return Status::Ok();
    // 409: a concurrent conditional write of the same key; the next attempt sees its result.
    if (response.status() != 409 || conflicts >= 3) {
      return client_->ErrorFor(response, "storing " + client_->Describe(key));
    }
  }
}

Result<Bytes> S3Store::Get(const ObjectId& id) {
  const std::string key = client_->ObjectKey(id);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"GET", key}));
  if (response.status() == 200) return std::move(response.http.body);
  if (response.status() == 404) return Missing(*client_, id);
  return client_->ErrorFor(response, "reading " + client_->Describe(key));
}

Result<Bytes> S3Store::GetRange(const ObjectId& id, uint64_t offset, uint64_t len) {
  if (len == 0) {
    ASSIGN_OR_RETURN(bool present, Contains(id));
    if (!present) return Missing(*client_, id);
    return Bytes{};
  }
  const std::string key = client_->ObjectKey(id);
  S3Request request{"GET", key, {{"range", RangeHeader(offset, len)}}};
  request.skip_on_200 = offset;
  ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
  switch (response.status()) {
    case 200:
    case 206:
      RETURN_IF_ERROR(CheckRangeStart(*client_, response, offset, key));
      if (response.http.body.size() > len) response.http.body.resize(len);
      return std::move(response.http.body);
    case 416:  // the range starts at or past the end
      return Bytes{};
    case 404:
      return Missing(*client_, id);
    default:
      return client_->ErrorFor(response, "reading " + client_->Describe(key));
  }
}

Result<size_t> S3Store::ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest) {
  if (dest.empty()) {
    ASSIGN_OR_RETURN(bool present, Contains(id));
    if (!present) return Missing(*client_, id);
    return size_t{0};
  }
  const std::string key = client_->ObjectKey(id);
  S3Request request{"GET", key, {{"range", RangeHeader(offset, dest.size())}}};
  request.receive_into = &dest;
  request.skip_on_200 = offset;
  ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
  switch (response.status()) {
    case 200:
    case 206:
      RETURN_IF_ERROR(CheckRangeStart(*client_, response, offset, key));
      return response.http.received_into;
    case 416:
      return size_t{0};
    case 404:
      return Missing(*client_, id);
    default:
      return client_->ErrorFor(response, "reading " + client_->Describe(key));
  }
}

Result<bool> S3Store::Contains(const ObjectId& id) {
  const std::string key = client_->ObjectKey(id);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"HEAD", key}));
  if (response.status() == 200) return true;
  if (response.status() == 404) return false;
  return client_->ErrorFor(response, "checking " + client_->Describe(key));
}

Result<uint64_t> S3Store::Size(const ObjectId& id) {
  const std::string key = client_->ObjectKey(id);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"HEAD", key}));
  if (response.status() == 404) return Missing(*client_, id);
  if (response.status() != 200) {
    return client_->ErrorFor(response, "reading the size of " + client_->Describe(key));
  }
  return ParseUint(response.http.Header("content-length"), "Content-Length");
}

Result<int64_t> S3Store::MTime(const ObjectId& id) {
  const std::string key = client_->ObjectKey(id);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"HEAD", key}));
  if (response.status() == 404) return Missing(*client_, id);
  if (response.status() != 200) {
    return client_->ErrorFor(response, "reading the mtime of " + client_->Describe(key));
  }
  return ParseHttpDate(response.http.Header("last-modified"));
}

Status S3Store::Touch(const ObjectId& id) {
  const std::string key = client_->ObjectKey(id);
  const std::string source = "/" + location().bucket + "/" + key;
  S3Request request{
      "PUT",
      key,
      {{"x-amz-copy-source", UriEncode(source, true)}, {"x-amz-metadata-directive", "REPLACE"}}};
  ASSIGN_OR_RETURN(S3Response response, client_->Send(request));
  if (response.status() == 404) return Missing(*client_, id);
  // A copy can fail after its 200 has been sent: the <Error> then is the body.
  if (response.status() == 200) response.error = ParseS3Error(AsString(response.http.body));
  if (response.status() == 200 && response.error.code.empty()) return Status::Ok();
  return client_->ErrorFor(response, "touching " + client_->Describe(key));
}

Status S3Store::Delete(const ObjectId& id) {
  ASSIGN_OR_RETURN(bool present, Contains(id));
  if (!present) return Missing(*client_, id);
  const std::string key = client_->ObjectKey(id);
  ASSIGN_OR_RETURN(S3Response response, client_->Send(S3Request{"DELETE", key}));
  if (response.status() == 204 || response.status() == 200) return Status::Ok();
  if (response.status() == 404) return Missing(*client_, id);
  return client_->ErrorFor(response, "deleting " + client_->Describe(key));
}

Status S3Store::ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) {
  const std::string prefix = client_->base() + "objects/";
  return client_->List(prefix, "", 0, false, [&](const ListPage& page) {
    for (const ListEntry& entry : page.contents) {
      // "<2 hex>/<64 hex>" with the same first two; anything else is not an object.
      if (!entry.key.starts_with(prefix)) continue;
      std::string_view rest = std::string_view(entry.key).substr(prefix.size());
      if (rest.size() != 3 + 2 * ObjectId::kSize || rest[2] != '/') continue;
      const std::string hex(rest.substr(3));
      if (!IsLowerHex(hex) || rest.substr(0, 2) != hex.substr(0, 2)) continue;
      ASSIGN_OR_RETURN(ObjectId id, ObjectId::FromHex(hex));
      RETURN_IF_ERROR(fn(id, entry.size));
    }
    return Status::Ok();
  });
}

Status S3Store::Sync() { return Status::Ok(); }

}  // namespace weightfs::storage::s3
