#include "storage/s3_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace weightfs::storage::s3 {
namespace {

constexpr long kReceiveBuffer = 256L << 10;

// What the callbacks of one transfer share.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  size_t sent = 0;
  uint64_t skipped = 0;
  // Decided at the first body byte, once the status is known: a 2xx body goes into the
  // caller's span and is held to max_body; an error document is neither.
  bool into_active = false;
  bool limited = false;
  bool started = false;
};

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistFree>;

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new answer (after 100 Continue or a redirect)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = Trim(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  t->response->headers.emplace_back(std::move(name), Trim(line.substr(colon + 1)));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t total = size * n;
  HttpResponse& r = *t->response;
  if (!t->started) {
    t->started = true;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->into_active = t->request->receive_into != nullptr && status / 100 == 2;
    t->limited = status / 100 == 2;
    if (status != 200) t->skipped = t->request->skip_on_200;  // nothing to skip
    // One allocation for the whole body when its length is known (and allowed).
    curl_off_t length = -1;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (!t->into_active && length > 0 &&
        (!t->limited || static_cast<uint64_t>(length) <= t->request->max_body)) {
      r.body.reserve(static_cast<size_t>(length));
    }
  }
  std::string_view chunk(data, total);
  if (t->skipped < t->request->skip_on_200) {
    const uint64_t drop = std::min<uint64_t>(chunk.size(), t->request->skip_on_200 - t->skipped);
    t->skipped += drop;
    chunk.remove_prefix(drop);
  }
  if (t->into_active) {
    std::span<uint8_t> dest = *t->request->receive_into;
    const size_t room = dest.size() - r.received_into;
    const size_t copy = std::min(room, chunk.size());
    if (copy > 0) std::memcpy(dest.data() + r.received_into, chunk.data(), copy);
    r.received_into += copy;
    return total;  // bytes past the span (a server ignoring the range) are dropped
  }
  if (t->limited && r.body.size() + chunk.size() > t->request->max_body) {
    r.body_too_large = true;
    return 0;  // stops the transfer
  }
  // An insert from uint8_t pointers is one memmove, without the zero-fill of a resize (from
  // char iterators it would copy byte by byte).
  const auto* bytes = reinterpret_cast<const uint8_t*>(chunk.data());
  r.body.insert(r.body.end(), bytes, bytes + chunk.size());
  return total;
}

size_t OnUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  ByteView body = t->request->body;
  const size_t copy = std::min(size * n, body.size() - t->sent);
  if (copy > 0) std::memcpy(buffer, body.data() + t->sent, copy);
  t->sent += copy;
  return copy;
}

// A rewind for a resent upload (curl may resend after a reset kept-alive connection).
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->request->body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int OnDebug(CURL*, curl_infotype type, char*, size_t, void* user) {
  if (type == CURLINFO_HEADER_OUT) ++static_cast<Transfer*>(user)->response->sends;
  return 0;
}

Slist HeaderLines(const HeaderList& headers) {
  curl_slist* list = nullptr;
  auto append = [&](const std::string& line) {
    curl_slist* longer = curl_slist_append(list, line.c_str());
    if (longer == nullptr) Die(__FILE__, __LINE__, "curl_slist_append failed (out of memory)");
    list = longer;
  };
  for (const auto& [k, v] : headers) append(k + ": " + v);
  append("Expect:");  // no "Expect: 100-continue" round trip before an upload
  return Slist(list);
}

TransportError Classify(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportError::kConnection;
    default:
      return TransportError::kOther;
  }
}

void SetMethod(CURL* curl, const HttpRequest& request, Transfer* t) {
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnUpload);
    curl_easy_setopt(curl, CURLOPT_READDATA, t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

HttpClient::HttpClient(int max_connections, std::chrono::milliseconds timeout)
    : max_connections_(std::max(1, max_connections)), timeout_(timeout) {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      Die(__FILE__, __LINE__, "curl_global_init failed");
    }
  });
}

HttpClient::~HttpClient() {
  MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  MutexLock lock(&mu_);
  available_.Wait([&] {
    mu_.AssertHeld();
    return !idle_.empty() || created_ < max_connections_;
  });
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) Die(__FILE__, __LINE__, "curl_easy_init failed (out of memory)");
  ++created_;
  return curl;
}

void HttpClient::Release(void* handle) {
  MutexLock lock(&mu_);
  idle_.push_back(handle);
  available_.Signal();
}

HttpOutcome HttpClient::Perform(const HttpRequest& request) {
  auto* curl = static_cast<CURL*>(Acquire());
  curl_easy_reset(curl);  // options only: the connection and its caches stay
  HttpOutcome out;
  Transfer t{curl, &request, &out.response};
  Slist headers = HeaderLines(request.headers);
  const long timeout_s = std::max<long>(1, static_cast<long>((timeout_.count() + 999) / 1000));
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, timeout_s);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  // Bigger reads from the socket: fewer body callbacks and poll wake-ups per object (the
  // default 16 KiB made a 1 MiB chunk 64 of each).
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kReceiveBuffer);
  if (request.method == "PUT") {
    // Counts the sends (curl reports each request's headers to the debug callback, and nothing
    // is printed): a resent conditional PUT must know it was resent.
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, OnDebug);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &t);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
  }
  SetMethod(curl, request, &t);
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_WRITE_ERROR && out.response.body_too_large) code = CURLE_OK;
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.response.status);
  } else {
    out.error = Classify(code);
    out.error_text = curl_easy_strerror(code);
    out.resolve_failed = code == CURLE_COULDNT_RESOLVE_HOST;
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  Release(curl);
  return out;
}

}  // namespace weightfs::storage::s3
