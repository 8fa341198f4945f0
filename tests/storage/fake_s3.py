#!/usr/bin/python3
"""A fake S3 server for the S3 store's tests: just enough S3 (path-style PUT/GET/HEAD/DELETE of
one bucket, Range, ListObjectsV2 with continuation and delimiters, conditional writes, copy onto
itself) plus fault injection, all in memory.

Started by the tests on 127.0.0.1 with an ephemeral port, which it prints as the first line of
stdout. It is then driven through stdin, one command a line, each answered with a line "ok ...":
  fault KIND COUNT METHOD [ARG...]  the next COUNT requests with METHOD ('*': any) fail:
      503 | 500 | 429 | reqtimeout    an S3 error answer (SlowDown, InternalError, ...)
      close                         the connection closes without an answer
      lost                          the request takes effect, then the connection closes
      applied500                    the request takes effect, then a 500 InternalError answers
      delay SECONDS                 the answer comes SECONDS late
      error STATUS CODE [REGION]    an <Error> with that status and code (and the region,
                                    also as x-amz-bucket-region)
  count             "ok N": requests received so far
  connections       "ok N": connections accepted so far
  max_inflight      "ok N": the most requests answered at once so far
  pagesize N        listings return at most N keys a page
  get KEY           "ok HEX" of the stored bytes of KEY, or "ok missing"
  clear             forget the injected faults
Options: --bucket NAME, --no-conditional (If-Match / If-None-Match are ignored, as by servers
without conditional writes), --bare-etag-only (If-Match matches only an unquoted ETag, as
radosgw's), --verify ACCESS_KEY:SECRET (SigV4 signatures are checked: wrong
ones get SignatureDoesNotMatch, unknown keys InvalidAccessKeyId, old dates RequestTimeTooSkewed).
"""
import argparse
import base64
import datetime
import email.utils
import hashlib
import hmac
import http.server
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

LOCK = threading.Lock()
OBJECTS = {}  # key -> (bytes, etag, mtime)
FAULTS = []  # [kind, remaining, method, args]
STATE = {"count": 0, "pagesize": 1000, "connections": 0, "inflight": 0, "max_inflight": 0}
ARGS = None

ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "429": (429, "TooManyRequests", "Too many requests."),
    "reqtimeout": (400, "RequestTimeout", "Your socket connection to the server was not read."),
}


def error_xml(code, message, region=""):
    extra = "<Region>%s</Region>" % escape(region) if region else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            "%s<RequestId>fake</RequestId></Error>" % (code, escape(message), extra)).encode()


def take_fault(method):
    with LOCK:
        STATE["count"] += 1
        for f in FAULTS:
            if f[1] > 0 and f[2] in ("*", method):
                f[1] -= 1
                return f[0], f[3]
    return None, None


def aws_quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def check_signature(handler, raw_path, raw_query, body):
    """None when the request is correctly signed, else the (status, code, message) to answer."""
    access, secret = ARGS.verify.split(":", 1)
    auth = handler.headers.get("Authorization", "")
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(",")
                  if "=" in p)
    cred = fields.get("Credential", "").split("/")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or len(cred) != 5:
        return 400, "AuthorizationHeaderMalformed", "The authorization header is malformed."
    if cred[0] != access:
        return 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
    if cred[2] != ARGS.region:
        return 400, "AuthorizationHeaderMalformed", "the region '%s' is wrong; expecting '%s'" % (
            cred[2], ARGS.region), ARGS.region
    amz_date = handler.headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return 403, "AccessDenied", "bad x-amz-date"
    if abs((datetime.datetime.utcnow() - when).total_seconds()) > 900:
        return 403, "RequestTimeTooSkewed", "The difference between the request time and the " \
                                            "current time is too large."
    payload = handler.headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header " \
                                                 "does not match what was computed."
    query = sorted((aws_quote(k), aws_quote(v)) for k, v in
                   urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    signed = fields.get("SignedHeaders", "").split(";")
    canon_headers = "".join("%s:%s\n" % (h, " ".join(handler.headers.get(h, "").split()))
                            for h in signed)
    creq = "\n".join([handler.command, raw_path, "&".join("%s=%s" % kv for kv in query),
                      canon_headers, ";".join(signed), payload])
    scope = "/".join(cred[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in cred[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields.get("Signature", "")):
        return 403, "SignatureDoesNotMatch", "The request signature we calculated does not " \
                                             "match the signature you provided."
    return None


def iso(ts):
    return datetime.datetime.utcfromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def list_objects(query):
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = min(int(query.get("max-keys", "1000")), STATE["pagesize"])
    token = query.get("continuation-token")
    after = base64.b64decode(token).decode() if token else query.get("start-after", "")
    with LOCK:
        keys = sorted(k for k in OBJECTS if k.startswith(prefix) and k > after)
        sizes = {k: (len(OBJECTS[k][0]), OBJECTS[k][2], OBJECTS[k][1]) for k in keys}
    contents, prefixes, last, truncated = [], [], None, False
    for k in keys:
        rest = k[len(prefix):]
        cp = None
        if delimiter and delimiter in rest:
            cp = prefix + rest[:rest.index(delimiter) + len(delimiter)]
            if prefixes and prefixes[-1] == cp:
                last = k
                continue
        if len(contents) + len(prefixes) >= max_keys:
            truncated = max_keys > 0  # S3 answers max-keys=0 with an empty, complete page
            break
        if cp:
            prefixes.append(cp)
        else:
            contents.append(k)
        last = k
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
           '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
           "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>" % (
               ARGS.bucket, escape(prefix), len(contents) + len(prefixes), max_keys),
           "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
    if truncated:
        out.append("<NextContinuationToken>%s</NextContinuationToken>" %
                   escape(base64.b64encode(last.encode()).decode()))
    for k in contents:
        size, mtime, etag = sizes[k]
        out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag>"
                   "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>" % (
                       escape(k), iso(mtime), escape(etag), size))
    for p in prefixes:
        out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p))
    out.append("</ListBucketResult>")
    return 200, {}, "".join(out).encode()


def parse_range(header, size):
    """(start, end) inclusive, or 'invalid', or None for no usable range."""
    if not header or not header.startswith("bytes="):
        return None
    first, _, last = header[6:].partition("-")
    if not first:
        return None
    start = int(first)
    if start >= size:
        return "invalid"
    end = size - 1 if not last else min(int(last), size - 1)
    return start, end


def get_object(handler, key):
    with LOCK:
        obj = OBJECTS.get(key)
    if obj is None:
        return 404, {}, error_xml("NoSuchKey", "The specified key does not exist.")
    data, etag, mtime = obj
    headers = {"ETag": etag, "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
               "Accept-Ranges": "bytes"}
    rng = parse_range(handler.headers.get("Range"), len(data))
    if rng == "invalid":
        return 416, {}, error_xml("InvalidRange", "The requested range is not satisfiable")
    if rng is None:
        return 200, headers, data
    start, end = rng
    headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, len(data))
    return 206, headers, data[start:end + 1]


def put_object(handler, key, body):
    conditional = not ARGS.no_conditional
    source = handler.headers.get("x-amz-copy-source")
    with LOCK:
        cur = OBJECTS.get(key)
        if conditional and handler.headers.get("If-None-Match") == "*" and cur is not None:
            return 412, {}, error_xml("PreconditionFailed", "At least one of the pre-conditions "
                                                            "you specified did not hold")
        match = handler.headers.get("If-Match")
        if conditional and match is not None:
            if cur is None:
                return 404, {}, error_xml("NoSuchKey", "The specified key does not exist.")
            if match != (cur[1].strip('"') if ARGS.bare_etag_only else cur[1]):
                return 412, {}, error_xml("PreconditionFailed", "If-Match did not hold")
        if source is not None:
            src = urllib.parse.unquote(source).lstrip("/").split("/", 1)
            obj = OBJECTS.get(src[1]) if len(src) == 2 and src[0] == ARGS.bucket else None
            if obj is None:
                return 404, {}, error_xml("NoSuchKey", "The specified key does not exist.")
            if src[1] == key and handler.headers.get("x-amz-metadata-directive") != "REPLACE":
                return 400, {}, error_xml("InvalidRequest", "This copy request is illegal")
            body = obj[0]
        etag = '"%s"' % hashlib.md5(body).hexdigest()
        OBJECTS[key] = (body, etag, time.time())
    if source is not None:
        return 200, {}, ("<CopyObjectResult><ETag>%s</ETag></CopyObjectResult>" % escape(etag)
                         ).encode()
    return 200, {"ETag": etag}, b""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK would add 40 ms to every request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with LOCK:
            STATE["connections"] += 1

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self, body):
        parsed = urllib.parse.urlsplit(self.path)
        if ARGS.verify:
            bad = check_signature(self, parsed.path, parsed.query, body)
            if bad:
                return bad[0], {}, error_xml(*bad[1:])
        path = urllib.parse.unquote(parsed.path)
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket != ARGS.bucket:
            return 404, {}, error_xml("NoSuchBucket", "The specified bucket does not exist")
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        if not key:
            if self.command == "GET" and query.get("list-type") == "2":
                return list_objects(query)
            return 200, {}, b""
        if self.command in ("GET", "HEAD"):
            return get_object(self, key)
        if self.command == "PUT":
            return put_object(self, key, body)
        if self.command == "DELETE":
            with LOCK:
                OBJECTS.pop(key, None)
            return 204, {}, b""
        return 405, {}, error_xml("MethodNotAllowed", "not allowed")

    def handle_any(self):
        with LOCK:
            STATE["inflight"] += 1
            STATE["max_inflight"] = max(STATE["max_inflight"], STATE["inflight"])
        try:
            self.handle_counted()
        finally:
            with LOCK:
                STATE["inflight"] -= 1

    def handle_counted(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        kind, args = take_fault(self.command)
        if kind in ERRORS:
            status, code, message = ERRORS[kind]
            return self.answer(status, {}, error_xml(code, message))
        if kind == "error":
            region = args[2] if len(args) > 2 else ""
            headers = {"x-amz-bucket-region": region} if region else {}
            return self.answer(int(args[0]), headers, error_xml(args[1], "injected", region))
        if kind == "close":
            self.close_connection = True
            return None
        if kind == "delay":
            time.sleep(float(args[0]))
        result = self.route(body)
        if kind == "lost":
            self.close_connection = True
            return None
        if kind == "applied500":
            return self.answer(500, {}, error_xml("InternalError", "applied, then failed"))
        return self.answer(*result)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops concurrent connects (a 1 s SYN resend)


def command(line):
    words = line.split()
    if not words:
        return "ok"
    if words[0] == "fault":
        with LOCK:
            FAULTS.append([words[1], int(words[2]), words[3], words[4:]])
    elif words[0] in ("count", "connections", "max_inflight"):
        with LOCK:
            return "ok %d" % STATE[words[0]]
    elif words[0] == "pagesize":
        STATE["pagesize"] = int(words[1])
    elif words[0] == "get":
        with LOCK:
            obj = OBJECTS.get(words[1])
        return "ok " + (obj[0].hex() if obj else "missing")
    elif words[0] == "clear":
        with LOCK:
            FAULTS.clear()
    else:
        return "error unknown command " + words[0]
    return "ok"


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--bucket", default="bucket")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--no-conditional", action="store_true")
    p.add_argument("--verify", default="")
    p.add_argument("--bare-etag-only", action="store_true")
    ARGS = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    for line in sys.stdin:  # the test's end of the pipe closing ends the server
        print(command(line), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
