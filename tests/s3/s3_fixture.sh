#!/usr/bin/env bash
# The ctest side of the s3server fixtures (tests/s3/s3_server.cmake): start, stop, smoke.
#   s3_fixture.sh start|stop|smoke STATE_DIR [swift|rgw]
# A server that cannot run here (packages missing, no user xattrs) makes `start` and every test
# needing it skip (exit 77), or fail when WEIGHTFS_REQUIRE_S3=1 (scripts/test.sh sets it under CI).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
action=${1:?usage: s3_fixture.sh start|stop|smoke STATE_DIR}
export WEIGHTFS_S3_DIR=${2:?usage: s3_fixture.sh start|stop|smoke STATE_DIR}
backend=${3:-swift}

unavailable() {
  if [ "${WEIGHTFS_REQUIRE_S3:-}" = 1 ]; then
    echo "FAIL: S3 server unavailable and WEIGHTFS_REQUIRE_S3=1: $*"
    exit 1
  fi
  echo "SKIP: S3 server unavailable: $*"
  exit 77
}

case $action in
  start)
    # A server left running by an interrupted earlier run goes first: every run starts empty.
    "$src/scripts/s3-server.sh" stop
    start=$SECONDS
    status=0
    "$src/scripts/s3-server.sh" start "$backend" >/dev/null || status=$?
    if [ "$status" -eq 4 ]; then
      unavailable "see the message above (scripts/setup.sh installs the packages)"
    fi
    [ "$status" -eq 0 ] || exit "$status"
    echo "s3 server ($backend) started in $((SECONDS - start)) s; settings in $WEIGHTFS_S3_DIR/env:"
    grep -v SECRET "$WEIGHTFS_S3_DIR/env"
    ;;
  stop)
    "$src/scripts/s3-server.sh" stop
    ;;
  smoke)
    [ -s "$WEIGHTFS_S3_DIR/env" ] || unavailable "no $WEIGHTFS_S3_DIR/env (s3_server_start skipped or failed)"
    # Only rgw honours conditional writes, which tests of compare-and-swap rely on.
    if [ "$backend" = rgw ]; then
      /usr/bin/python3 "$src/scripts/s3-probe.py" --env "$WEIGHTFS_S3_DIR/env" probe --require-cas
    else
      /usr/bin/python3 "$src/scripts/s3-probe.py" --env "$WEIGHTFS_S3_DIR/env" probe --basic
    fi
    ;;
  *)
    echo "usage: s3_fixture.sh start|stop|smoke STATE_DIR [swift|rgw]" >&2
    exit 2
    ;;
esac
