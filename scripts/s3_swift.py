#!/usr/bin/python3
"""Helpers of scripts/s3-server.sh for its Swift backend (Debian's python3-swift, s3api).

  s3_swift.py ports N [FIRST]          N free TCP ports on 127.0.0.1 (FIRST is used as the
                                        first one if given; exit 3 if it is busy)
  s3_swift.py rings ETC DEVICE A C O   1-replica account/container/object rings in ETC with one
                                        device DEVICE on 127.0.0.1 ports A, C and O
  s3_swift.py run ETC SERVER CONF      run one server (proxy, account, container or object) in
                                        the foreground with ETC/swift.conf instead of
                                        /etc/swift/swift.conf; logs go to stderr

Swift reads its hash prefix, storage policies and constraints from the fixed path
/etc/swift/swift.conf; `run` points swift.common.utils at ETC/swift.conf before any other Swift
module is imported, so nothing of the server lives outside the state directory.

The module also holds `cache_filter_factory`, a paste filter that puts a process-local cache in
env['swift.cache'] (tempauth and the proxy's info caching need a memcache client). With
workers = 0 every server is a single process, so a dict is coherent and no memcached runs.
"""

import json
import os
import socket
import sys
import time


def free_ports(count, first=None):
    """Returns `count` distinct free ports; `first` (if given) must be free and comes first."""
    ports = []
    holders = []
    try:
        if first is not None:
            sock = socket.socket()
            try:
                sock.bind(('127.0.0.1', first))
            except OSError as e:
                sock.close()
                print('s3-server: port %d on 127.0.0.1 is busy (%s); pick another '
                      'WEIGHTFS_S3_PORT or leave it unset for a free one' % (first, e.strerror),
                      file=sys.stderr)
                sys.exit(3)
            holders.append(sock)
            ports.append(first)
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(('127.0.0.1', 0))
            holders.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in holders:
            sock.close()
    return ports


def build_rings(etc, device, account_port, container_port, object_port):
    from swift.common.ring import RingBuilder
    for name, port in (('account', account_port), ('container', container_port),
                       ('object', object_port)):
        # 2^6 partitions: plenty for one device, and the rebalance takes milliseconds.
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port,
                         'device': device, 'weight': 100.0, 'meta': ''})
        builder.rebalance()
        builder.save(os.path.join(etc, name + '.builder'))
        builder.get_ring().save(os.path.join(etc, name + '.ring.gz'))


def run_server(etc, server, conf):
    import swift.common.utils as utils
    # Must precede the imports below: storage_policy and constraints read the file on import.
    utils.SWIFT_CONF_FILE = os.path.join(etc, 'swift.conf')
    from swift.common.wsgi import run_wsgi
    kwargs = {'verbose': True}
    if server == 'object':
        from swift.obj import server as object_server
        kwargs['global_conf_callback'] = object_server.global_conf_callback
    return run_wsgi(conf, server + '-server', **kwargs)


class LocalCache(object):
    """The subset of swift.common.memcached.MemcacheRing that Swift's middlewares call.

    Values are JSON round-tripped like MemcacheRing does, so callers see what memcached
    would give back. Single-threaded use (eventlet green threads do not preempt)."""

    def __init__(self):
        self._items = {}

    @staticmethod
    def _deadline(ttl):
        ttl = float(ttl or 0)
        if ttl <= 0:
            return None
        # memcached treats values over 30 days as absolute times.
        return ttl if ttl > 30 * 24 * 3600 else time.time() + ttl

    def _live(self, key):
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] < time.time():
            del self._items[key]
            return None
        return item

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        if serialize:
            value = json.loads(json.dumps(value))
        self._items[key] = (value, self._deadline(time))

    def get(self, key, raise_on_error=False):
        item = self._live(key)
        return None if item is None else item[0]

    def incr(self, key, delta=1, time=0):
        item = self._live(key)
        value = max(0, int(item[0] if item else 0) + int(delta))
        self._items[key] = (value, item[1] if item else self._deadline(time))
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -int(delta), time)

    def delete(self, key, server_key=None):
        self._items.pop(key, None)

    def set_multi(self, mapping, server_key, serialize=True, time=0, min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize=serialize, time=time)

    def get_multi(self, keys, server_key):
        return [self.get(key) for key in keys]


def cache_filter_factory(global_conf, **local_conf):
    cache = LocalCache()

    def make_filter(app):
        def middleware(env, start_response):
            env['swift.cache'] = cache
            return app(env, start_response)
        return middleware
    return make_filter


def main(argv):
    if len(argv) >= 2 and argv[1] == 'ports':
        first = int(argv[3]) if len(argv) > 3 and argv[3] else None
        print(' '.join(str(p) for p in free_ports(int(argv[2]), first)))
        return 0
    if len(argv) == 7 and argv[1] == 'rings':
        build_rings(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
        return 0
    if len(argv) == 5 and argv[1] == 'run':
        return run_server(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
