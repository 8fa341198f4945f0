#!/usr/bin/python3
"""Checks what an S3 server does, with Debian's python3-boto3 (SigV4, path-style addressing).

  s3-probe.py [--env FILE] probe [--basic | --require-cas] [--bucket NAME]
      Runs the checks in a fresh bucket (deleted afterwards) and prints one line per check.
      Required checks (PUT/GET/HEAD/DELETE, 404 NoSuchKey, 403 for a wrong secret, ranged GET,
      ListObjectsV2 continuation, multipart upload, copy onto itself) fail the run (exit 1);
      what the server does with conditional writes, with a body that does not match
      x-amz-content-sha256 and with Last-Modified on a self-copy is printed as INFO lines.
      --basic runs the required checks only. --require-cas makes the conditional writes
      required: If-None-Match: * and If-Match honoured, and of 8 writers racing with
      If-None-Match: * exactly one wins (the If-Match race stays INFO: see conditional_races).
  s3-probe.py [--env FILE] mkbucket NAME
      Creates bucket NAME; succeeds if the caller already owns it.
  s3-probe.py [--env FILE] ready --timeout S [--pid PID]... [--url URL]...
      Waits until the server answers a signed ListBuckets and every URL answers 200; fails at
      once when a PID exits.

Settings come from FILE (KEY=VALUE lines, as scripts/s3-server.sh writes) or else from the
environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
"""

import argparse
import hashlib
import os
import secrets
import sys
import time
import urllib.error
import urllib.request

SETTINGS = ('AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION')


def load_settings(env_file):
    values = {}
    if env_file:
        with open(env_file) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith('#') and '=' in line:
                    key, value = line.split('=', 1)
                    values[key] = value
    for key in SETTINGS:
        values.setdefault(key, os.environ.get(key, ''))
    missing = [key for key in SETTINGS if not values[key]]
    if missing:
        sys.exit('s3-probe: %s not set; pass --env FILE (the env file scripts/s3-server.sh '
                 'start writes) or export them' % ', '.join(missing))
    return values


def make_client(settings, timeout=30):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        sys.exit('s3-probe: python3-boto3 is missing; run scripts/setup.sh (or apt-get install '
                 'python3-boto3)')
    # A private session: ~/.aws files and AWS_PROFILE of the caller must not change the probe.
    session = boto3.session.Session(
        aws_access_key_id=settings['AWS_ACCESS_KEY_ID'],
        aws_secret_access_key=settings['AWS_SECRET_ACCESS_KEY'],
        region_name=settings['AWS_REGION'])
    config = Config(signature_version='s3v4', s3={'addressing_style': 'path'},
                    retries={'total_max_attempts': 1}, connect_timeout=timeout,
                    read_timeout=timeout)
    return session.client('s3', endpoint_url=settings['AWS_ENDPOINT_URL'], config=config)


def error_code(e):
    """(HTTP status, S3 error code) of a botocore ClientError."""
    return (e.response.get('ResponseMetadata', {}).get('HTTPStatusCode'),
            e.response.get('Error', {}).get('Code'))


def put_with_headers(client, headers, **kwargs):
    """put_object with extra request headers (boto3 1.26 has no IfMatch/IfNoneMatch).

    Returns (HTTP status, S3 error code or None)."""
    from botocore.exceptions import ClientError

    def add_headers(request, **_):
        for name, value in headers.items():
            request.headers[name] = value
    client.meta.events.register('before-sign.s3.PutObject', add_headers)
    try:
        response = client.put_object(**kwargs)
        return response['ResponseMetadata']['HTTPStatusCode'], None
    except ClientError as e:
        return error_code(e)
    finally:
        client.meta.events.unregister('before-sign.s3.PutObject', add_headers)


class Probe(object):
    def __init__(self, client, bucket, require_cas=False):
        self.client = client
        self.bucket = bucket
        self.require_cas = require_cas
        self.failures = 0

    def check(self, name, ok, detail):
        print('%s %s: %s' % ('ok  ' if ok else 'FAIL', name, detail), flush=True)
        if not ok:
            self.failures += 1

    def cas_check(self, name, ok, detail):
        """A required check under --require-cas, else an INFO line."""
        if self.require_cas:
            self.check(name, ok, detail)
        else:
            self.info(name, detail)

    @staticmethod
    def info(name, detail):
        print('INFO %s: %s' % (name, detail), flush=True)

    def basic(self):
        from botocore.exceptions import ClientError
        c, b = self.client, self.bucket
        body = secrets.token_bytes(3000)
        md5 = hashlib.md5(body).hexdigest()
        put = c.put_object(Bucket=b, Key='basic/obj', Body=body)
        self.check('PUT', put['ETag'].strip('"') == md5, 'ETag %s (MD5 of the body %s)'
                   % (put['ETag'], md5))
        got = c.get_object(Bucket=b, Key='basic/obj')['Body'].read()
        self.check('GET', got == body,
                   '%d bytes back, %s' % (len(got), 'equal' if got == body else 'DIFFERENT'))
        head = c.head_object(Bucket=b, Key='basic/obj')
        self.check('HEAD', head['ContentLength'] == len(body) and head['ETag'] == put['ETag'],
                   'ContentLength %d, ETag %s' % (head['ContentLength'], head['ETag']))
        c.delete_object(Bucket=b, Key='basic/obj')
        try:
            c.head_object(Bucket=b, Key='basic/obj')
            self.check('DELETE', False, 'HEAD after DELETE still finds the object')
        except ClientError as e:
            self.check('DELETE', error_code(e)[0] == 404, 'HEAD after DELETE answers %s %s'
                       % error_code(e))

    def errors(self, settings):
        from botocore.exceptions import ClientError
        c, b = self.client, self.bucket
        try:
            c.get_object(Bucket=b, Key='errors/missing')
            self.check('GET of a missing key', False, 'answered 200')
        except ClientError as e:
            self.check('GET of a missing key', error_code(e) == (404, 'NoSuchKey'),
                       'HTTP %s %s' % error_code(e))
        wrong = dict(settings, AWS_SECRET_ACCESS_KEY=settings['AWS_SECRET_ACCESS_KEY'] + 'x')
        try:
            make_client(wrong).head_bucket(Bucket=b)
            self.check('signature check (wrong secret)', False, 'answered 200: the server '
                       'does not check SigV4 signatures')
        except ClientError as e:
            self.check('signature check (wrong secret)', error_code(e)[0] == 403,
                       'HTTP %s %s' % error_code(e))

    def payload_hash(self):
        """Does the server compare the body with x-amz-content-sha256? (INFO only)"""
        from botocore.exceptions import ClientError
        c, b = self.client, self.bucket

        def drop_md5(request, **_):
            # botocore adds Content-MD5, which would catch the swap by itself.
            if 'Content-MD5' in request.headers:
                del request.headers['Content-MD5']

        def swap_body(request, **_):
            request.body = b'Y' * 100  # signed for the 100 bytes X below
        c.meta.events.register('before-sign.s3.PutObject', drop_md5)
        c.meta.events.register('before-send.s3.PutObject', swap_body)
        try:
            c.put_object(Bucket=b, Key='hash/obj', Body=b'X' * 100)
            self.info('PUT whose body does not match x-amz-content-sha256',
                      'HTTP 200: ACCEPTED (the server does not check the payload hash)')
        except ClientError as e:
            self.info('PUT whose body does not match x-amz-content-sha256',
                      'HTTP %s %s: rejected' % error_code(e))
        finally:
            c.meta.events.unregister('before-sign.s3.PutObject', drop_md5)
            c.meta.events.unregister('before-send.s3.PutObject', swap_body)

    def ranged_get(self):
        c, b = self.client, self.bucket
        body = bytes(range(256)) * 40
        c.put_object(Bucket=b, Key='range/obj', Body=body)
        for spec, want in (('bytes=100-199', body[100:200]), ('bytes=10000-', body[10000:]),
                           ('bytes=-7', body[-7:]), ('bytes=5000-99999', body[5000:])):
            r = c.get_object(Bucket=b, Key='range/obj', Range=spec)
            got = r['Body'].read()
            status = r['ResponseMetadata']['HTTPStatusCode']
            self.check('ranged GET %s' % spec, status == 206 and got == want,
                       'status %d, %d bytes (%s), Content-Range %s'
                       % (status, len(got), 'exact' if got == want else 'WRONG BYTES',
                          r.get('ContentRange')))

    def list_continuation(self):
        c, b = self.client, self.bucket
        keys = ['list/k%d' % i for i in range(5)]
        for key in keys:
            c.put_object(Bucket=b, Key=key, Body=key.encode())
        seen, pages, token = [], [], None
        while len(pages) < 10:
            kwargs = {'Bucket': b, 'Prefix': 'list/', 'MaxKeys': 2}
            if token:
                kwargs['ContinuationToken'] = token
            r = c.list_objects_v2(**kwargs)
            page = [o['Key'] for o in r.get('Contents', [])]
            pages.append(len(page))
            seen += page
            if not r.get('IsTruncated'):
                break
            token = r.get('NextContinuationToken')
            if not token:
                break
        self.check('ListObjectsV2 MaxKeys=2 over 5 keys', seen == keys and pages == [2, 2, 1],
                   'pages of %s, keys %s' % (pages, 'all in order' if seen == keys else seen))

    def multipart(self):
        c, b = self.client, self.bucket
        parts = [secrets.token_bytes(5 * 1024 * 1024), secrets.token_bytes(1000)]
        upload = c.create_multipart_upload(Bucket=b, Key='multi/obj')['UploadId']
        done = []
        for number, part in enumerate(parts, 1):
            r = c.upload_part(Bucket=b, Key='multi/obj', UploadId=upload, PartNumber=number,
                              Body=part)
            done.append({'PartNumber': number, 'ETag': r['ETag']})
        r = c.complete_multipart_upload(Bucket=b, Key='multi/obj', UploadId=upload,
                                        MultipartUpload={'Parts': done})
        got = c.get_object(Bucket=b, Key='multi/obj')['Body'].read()
        tail = c.get_object(Bucket=b, Key='multi/obj', Range='bytes=5242870-5242889')
        want_tail = (parts[0] + parts[1])[5242870:5242890]
        tail_status = tail['ResponseMetadata']['HTTPStatusCode']
        self.check('multipart upload of 5 MiB + 1000 bytes',
                   got == b''.join(parts) and tail['Body'].read() == want_tail and
                   tail_status == 206,
                   '%d bytes back (%s), range across the part boundary %d' % (
                       len(got), 'equal' if got == b''.join(parts) else 'DIFFERENT',
                       tail_status))
        self.info('multipart ETags', 'CompleteMultipartUpload says %s, HEAD says %s' % (
            r.get('ETag') or '(empty)', c.head_object(Bucket=b, Key='multi/obj')['ETag']))

    def self_copy(self):
        c, b = self.client, self.bucket
        c.put_object(Bucket=b, Key='copy/obj', Body=b'copy me', Metadata={'v': '1'})
        before = c.head_object(Bucket=b, Key='copy/obj')
        time.sleep(1.2)  # Last-Modified has one-second resolution
        c.copy_object(Bucket=b, Key='copy/obj', CopySource={'Bucket': b, 'Key': 'copy/obj'},
                      MetadataDirective='REPLACE', Metadata={'v': '2'})
        after = c.head_object(Bucket=b, Key='copy/obj')
        body = c.get_object(Bucket=b, Key='copy/obj')['Body'].read()
        self.check('copy onto itself, MetadataDirective=REPLACE',
                   after['Metadata'].get('v') == '2' and body == b'copy me',
                   'metadata v=%s, body %s' % (after['Metadata'].get('v'),
                                               'kept' if body == b'copy me' else 'CHANGED'))
        self.info('self-copy Last-Modified', '%s -> %s (%s)' % (
            before['LastModified'].isoformat(), after['LastModified'].isoformat(),
            'changes' if after['LastModified'] > before['LastModified'] else 'DOES NOT change'))

    def conditional_writes(self, settings):
        c, b = self.client, self.bucket

        def put(name, headers, key, body, honoured_when):
            status, code = put_with_headers(c, headers, Bucket=b, Key=key, Body=body)
            verdict = 'honoured' if status == honoured_when else 'NOT honoured'
            self.info(name, 'HTTP %s%s -> %s' % (status, ' ' + code if code else '', verdict))
            return status == honoured_when
        etag = c.put_object(Bucket=b, Key='cond/obj', Body=b'v1')['ETag']
        create = [
            put('PUT If-None-Match: * on an existing key (412 expected)',
                {'If-None-Match': '*'}, 'cond/obj', b'v2', 412),
            put('PUT If-None-Match: * on a new key (200 expected)',
                {'If-None-Match': '*'}, 'cond/new', b'v1', 200),
        ]
        wrong = [
            put('PUT If-Match: "<wrong etag>" (412 expected)',
                {'If-Match': '"%s"' % ('0' * 32)}, 'cond/obj', b'v2', 412),
            put('PUT If-Match: <wrong etag, bare hex> (412 expected)',
                {'If-Match': '0' * 32}, 'cond/obj', b'v2', 412),
            put('PUT If-Match on a missing key (412 expected)',
                {'If-Match': etag}, 'cond/missing', b'v1', 412),
        ]
        quoted = put('PUT If-Match: "<right etag>" as the server sent it (200 expected)',
                     {'If-Match': etag}, 'cond/obj', b'v3', 200)
        etag = c.head_object(Bucket=b, Key='cond/obj')['ETag']
        bare = put('PUT If-Match: <right etag, bare hex without quotes> (200 expected)',
                   {'If-Match': etag.strip('"')}, 'cond/obj', b'v4', 200)
        now = c.get_object(Bucket=b, Key='cond/obj')['Body'].read()
        self.info('object after the conditional PUTs', repr(now))
        if all(create) and all(wrong) and (quoted or bare):
            verdict = 'compare-and-swap usable; If-Match takes %s' % (
                'the quoted ETag (and the bare hex)' if quoted and bare else
                'the quoted ETag only' if quoted else 'only the bare hex ETag, NOT the quoted one')
            self.cas_check('conditional writes', True, verdict)
            self.conditional_races(settings, quote=quoted)
        else:
            self.cas_check('conditional writes', False,
                           'NOT honoured: no compare-and-swap on this server')

    def conditional_races(self, settings, quote):
        """Are conditional PUTs atomic? Of racing writers exactly one may win."""
        import concurrent.futures
        from botocore.exceptions import ClientError
        b, writers = self.bucket, 8

        def race(headers):
            # One client for all threads (botocore clients are thread-safe), the headers added
            # by a handler registered before any thread starts.
            client = make_client(settings)

            def add_headers(request, **_):
                for name, value in headers.items():
                    request.headers[name] = value
            client.meta.events.register('before-sign.s3.PutObject', add_headers)

            def put(i):
                try:
                    client.put_object(Bucket=b, Key='race/obj', Body=b'writer %d' % i)
                    return 200, None
                except ClientError as e:
                    return error_code(e)
            with concurrent.futures.ThreadPoolExecutor(writers) as pool:
                results = list(pool.map(put, range(writers)))
            winners = [i for i, (status, _) in enumerate(results) if status == 200]
            body = self.client.get_object(Bucket=b, Key='race/obj')['Body'].read()
            # The object must hold the one winner's body: a writer told "failed" (412, or a
            # 500 of unknown outcome) must not have replaced it.
            ok = len(winners) == 1 and body == b'writer %d' % winners[0]
            return ok, '%d of %d succeeded, the object holds %r%s; answers %s' % (
                len(winners), writers, body, '' if ok else ' -- NOT ATOMIC',
                ', '.join('%s %s' % (status, code or '') for status, code in
                          sorted(set(results), key=str)))
        self.cas_check('racing PUTs If-None-Match: * on a new key',
                       *race({'If-None-Match': '*'}))
        etag = self.client.head_object(Bucket=b, Key='race/obj')['ETag'].strip('"')
        # INFO even under --require-cas: radosgw 16 let two of eight racing writers win once in
        # about 650 rounds (and answers 500 to some of them), so a required check would flake.
        self.info('racing PUTs If-Match: <the current etag>',
                  race({'If-Match': '"%s"' % etag if quote else etag})[1])

    def cleanup(self):
        c, b = self.client, self.bucket
        for page in c.get_paginator('list_objects_v2').paginate(Bucket=b):
            for o in page.get('Contents', []):
                c.delete_object(Bucket=b, Key=o['Key'])
        c.delete_bucket(Bucket=b)


def cmd_probe(settings, args):
    from botocore.exceptions import BotoCoreError, ClientError
    client = make_client(settings)
    bucket = args.bucket or 'weightfs-probe-' + secrets.token_hex(4)
    print('probe: %s, bucket %s' % (settings['AWS_ENDPOINT_URL'], bucket), flush=True)
    probe = Probe(client, bucket, require_cas=args.require_cas)
    try:
        client.create_bucket(Bucket=bucket)
        steps = [probe.basic, lambda: probe.errors(settings), probe.ranged_get,
                 probe.list_continuation, probe.multipart, probe.self_copy]
        if not args.basic:
            steps += [probe.payload_hash, lambda: probe.conditional_writes(settings)]
        for step in steps:
            try:
                step()
            except Exception as e:  # pylint: disable=broad-except  (a failed check, not a crash)
                probe.check(getattr(step, '__name__', 'check'), False, 'request failed: %r' % e)
    finally:
        try:
            probe.cleanup()
        except (BotoCoreError, ClientError) as e:
            print('probe: could not delete bucket %s: %s' % (bucket, e), file=sys.stderr)
    print('probe: %s' % ('all required checks passed' if probe.failures == 0
                         else '%d required checks FAILED' % probe.failures))
    return 1 if probe.failures else 0


def cmd_mkbucket(settings, args):
    from botocore.exceptions import BotoCoreError, ClientError
    client = make_client(settings)
    try:
        client.create_bucket(Bucket=args.name)
        print('mkbucket: created %s' % args.name)
        return 0
    except ClientError as e:
        status, code = error_code(e)
        if code in ('BucketAlreadyOwnedByYou', 'BucketAlreadyExists'):
            try:
                client.head_bucket(Bucket=args.name)
                print('mkbucket: %s exists already' % args.name)
                return 0
            except ClientError:
                pass
        print('mkbucket: the server refused to create bucket %s: HTTP %s %s' % (
            args.name, status, code), file=sys.stderr)
    except BotoCoreError as e:
        print('mkbucket: no answer from %s: %s; is the server running (scripts/s3-server.sh '
              'status)?' % (settings['AWS_ENDPOINT_URL'], e), file=sys.stderr)
    return 1


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours has exited too.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def cmd_ready(settings, args):
    from botocore.exceptions import BotoCoreError, ClientError
    client = make_client(settings, timeout=2)
    deadline = time.monotonic() + args.timeout
    last = 'no attempt yet'
    while time.monotonic() < deadline:
        dead = [pid for pid in args.pid if not pid_alive(pid)]
        if dead:
            print('s3-probe: server process %s exited' % ', '.join(map(str, dead)),
                  file=sys.stderr)
            return 1
        try:
            for url in args.url:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status != 200:
                        raise OSError('%s answered %d' % (url, r.status))
            client.list_buckets()
            return 0
        except (OSError, urllib.error.URLError, BotoCoreError) as e:
            last = str(e)
        except ClientError as e:
            last = 'ListBuckets answered HTTP %s %s' % error_code(e)
        time.sleep(0.2)
    print('s3-probe: no S3 answer within %g s (last: %s)' % (args.timeout, last),
          file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--env', help='KEY=VALUE file written by scripts/s3-server.sh start')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('probe')
    p.add_argument('--basic', action='store_true', help='required checks only')
    p.add_argument('--require-cas', action='store_true',
                   help='fail unless conditional PUTs are honoured and atomic')
    p.add_argument('--bucket', help='bucket to create and delete (default: a random name)')
    p = sub.add_parser('mkbucket')
    p.add_argument('name')
    p = sub.add_parser('ready')
    p.add_argument('--timeout', type=float, default=60)
    p.add_argument('--pid', type=int, action='append', default=[])
    p.add_argument('--url', action='append', default=[])
    args = parser.parse_args()
    settings = load_settings(args.env)
    return {'probe': cmd_probe, 'mkbucket': cmd_mkbucket, 'ready': cmd_ready}[args.command](
        settings, args)


if __name__ == '__main__':
    sys.exit(main())
