#!/usr/bin/python3
"""A small HTTP/1.1 forwarding proxy that injects faults between weightfs and a real S3 server.

Usage: fault_proxy.py UPSTREAM_URL     (e.g. http://127.0.0.1:8080)

Listens on 127.0.0.1 (a free port) and prints "PORT <n>" on stdout once it accepts connections.
Give clients http://127.0.0.1:<n> as their endpoint: requests are forwarded byte for byte (the
client's Host header included, so SigV4 signatures made for the proxy's address still verify;
the servers of the fixtures do not compare the Host's port with their own), responses too.
Client connections are kept alive; every request goes to the server on a fresh connection.

Control: one JSON object per line on stdin, answered by one line on stdout ("ok" or a JSON
object). Keys, all optional (omitted keys keep their value):
  {"delay": P, "delay_ms": N}   delay a request by N ms with probability P
  {"reset_before": P}           close the client's connection (RST) without forwarding
  {"reset_after": P}            forward, let the server apply it, then RST the client: it never
                                sees the answer
  {"slowdown": P}               answer 503 SlowDown without forwarding
  {"force": KIND, "count": N}   the next N requests get KIND (delay, reset_before, reset_after,
                                slowdown), before any probability
  {"dark": true|false}          while true, every connection is closed at once, and requests on
                                open connections are reset
  {"after": N, "then": {...}}   apply the command "then" once N more requests have arrived (the
                                N+1-th request gets its faults)
  {"clear": true}               no faults, nothing pending, not dark
  {"stats": true}               answer {"requests": n, "delay": n, ..., "is_dark": bool}
                                instead of "ok"
At most one fault per request; the probabilities are tried in the order above.
"""
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

KINDS = ("delay", "reset_before", "reset_after", "slowdown")
SLOWDOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy"
            b"</RequestId></Error>")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.p = {k: 0.0 for k in KINDS}
        self.delay_ms = 0
        self.forced = []  # kinds for the next requests
        self.dark = False
        self.stats = {"requests": 0, "dark": 0, **{k: 0 for k in KINDS}}
        self.rng = random.Random()
        self.pending = None  # [requests left, command]

    def control(self, cmd):
        with self.lock:
            if cmd.get("clear"):
                self.p = {k: 0.0 for k in KINDS}
                self.forced, self.pending, self.dark = [], None, False
            if "after" in cmd:
                self.pending = [int(cmd["after"]), dict(cmd["then"])]
                return "ok"
            return self.apply(cmd)

    def apply(self, cmd):
        for k in KINDS:
            if k in cmd:
                self.p[k] = float(cmd[k])
        if "delay_ms" in cmd:
            self.delay_ms = int(cmd["delay_ms"])
        if "force" in cmd:
            assert cmd["force"] in KINDS, cmd
            self.forced = [cmd["force"]] * int(cmd.get("count", 1))
        if "dark" in cmd:
            self.dark = bool(cmd["dark"])
        if cmd.get("stats"):
            return json.dumps(dict(self.stats, is_dark=self.dark))
        return "ok"

    def pick(self):
        """The fault for the next request: None, "dark" or one of KINDS."""
        with self.lock:
            self.stats["requests"] += 1
            if self.pending is not None:
                if self.pending[0] <= 0:
                    self.apply(self.pending[1])
                    self.pending = None
                else:
                    self.pending[0] -= 1
            kind = None
            if self.dark:
                kind = "dark"
            elif self.forced:
                kind = self.forced.pop(0)
            else:
                for k in KINDS:
                    if self.p[k] > 0 and self.rng.random() < self.p[k]:
                        kind = k
                        break
            if kind:
                self.stats[kind] += 1
            return kind, self.delay_ms

    def is_dark(self):
        with self.lock:
            return self.dark


class Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, sep):
        while sep not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ValueError("header too long")
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        """Everything until the peer closes."""
        try:
            while True:
                self.fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out


def headers_of(head):
    lines = head.decode("latin-1").split("\r\n")
    out = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return lines[0], out


def read_body(reader, hdrs):
    """The raw bytes of a message body framed by Content-Length or chunked encoding."""
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        out = b""
        while True:
            line = reader.until(b"\r\n")
            out += line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = reader.until(b"\r\n")
                    out += t
                    if t == b"\r\n":
                        return out
            out += reader.exactly(size + 2)
    return reader.exactly(int(hdrs.get("content-length", "0") or 0))


def reset(sock):
    """Closes with RST: the client sees 'connection reset by peer'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


def forward(upstream, request, method):
    """Sends one request to the server; returns (raw response, whether the client may reuse its
    connection)."""
    up = socket.create_connection(upstream, timeout=120)
    try:
        up.sendall(request)
        reader = Reader(up)
        while True:
            head = reader.until(b"\r\n\r\n")
            status_line, hdrs = headers_of(head)
            status = int(status_line.split()[1])
            if status != 100:
                break
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return head, True
        if "chunked" in hdrs.get("transfer-encoding", "").lower() or "content-length" in hdrs:
            keep = hdrs.get("connection", "").lower() != "close"
            return head + read_body(reader, hdrs), keep
        return head + reader.rest(), False
    finally:
        up.close()


def slowdown_response(method):
    """503 SlowDown as S3 sends it; no body for a HEAD (its Content-Length still says the size)."""
    return (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: "
            + str(len(SLOWDOWN)).encode() + b"\r\nRetry-After: 1\r\n\r\n"
            + (b"" if method == "HEAD" else SLOWDOWN))


def serve_client(client, state, upstream):
    reader = Reader(client)
    try:
        while True:
            head = reader.until(b"\r\n\r\n")
            request_line, hdrs = headers_of(head)
            method = request_line.split()[0]
            body = read_body(reader, hdrs)
            kind, delay_ms = state.pick()
            if kind in ("dark", "reset_before"):
                reset(client)
                return
            if kind == "delay":
                time.sleep(delay_ms / 1000.0)
            if kind == "slowdown":
                client.sendall(slowdown_response(method))
                continue
            response, keep = forward(upstream, head + body, method)
            if kind == "reset_after" or state.is_dark():
                reset(client)
                return
            client.sendall(response)
            if not keep:
                client.close()
                return
    except (EOFError, OSError, ValueError):
        try:
            client.close()
        except OSError:
            pass


def accept_loop(listener, state, upstream):
    while True:
        client, _ = listener.accept()
        if state.is_dark():
            with state.lock:
                state.stats["dark"] += 1
            reset(client)
            continue
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_client, args=(client, state, upstream), daemon=True).start()


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    upstream = (url.hostname, url.port or 80)
    state = State()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    threading.Thread(target=accept_loop, args=(listener, state, upstream), daemon=True).start()
    print("PORT %d" % listener.getsockname()[1], flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            answer = state.control(json.loads(line))
        except (ValueError, AssertionError, TypeError) as e:
            answer = "error: %s" % e
        print(answer, flush=True)


if __name__ == "__main__":
    main()
