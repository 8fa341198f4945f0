#!/usr/bin/env bash
# A real S3 server from Debian's packages on 127.0.0.1, for weightfs's S3 tests and for trying
# the S3 backend by hand. Everything it writes (config, data, logs, pids) stays in one state
# directory, which `stop` removes.
#
#   s3-server.sh start [swift|rgw]  start (default swift); wait until it answers signed S3
#                                   requests; print the settings as KEY=VALUE lines (also in
#                                   $DIR/env). Already running in $DIR: print them again.
#   s3-server.sh stop               stop exactly the processes start recorded; remove $DIR
#   s3-server.sh status             exit 0 when every process runs, 3 otherwise
#   s3-server.sh env                print $DIR/env
#   s3-server.sh mkbucket NAME      create bucket NAME (no error if it exists already)
#
# $DIR is WEIGHTFS_S3_DIR; without it `start` makes one with mktemp under /var/tmp and prints
# WEIGHTFS_S3_DIR=... among the settings, which the other commands then need:
#   set -a; eval "$(scripts/s3-server.sh start)"; set +a    # exports AWS_* and WEIGHTFS_S3_DIR
#   scripts/s3-server.sh mkbucket models
#   scripts/s3-server.sh stop
# WEIGHTFS_S3_PORT picks the S3 port (default: a free one). Printed settings:
#   AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION WEIGHTFS_S3_DIR
# The secret is random per start and lives only in $DIR (mode 700).
#
# swift: OpenStack Swift 2.30 (python3-swift) with the s3api middleware (SigV4, region
# us-east-1, path-style) and tempauth: proxy, account, container and object servers, one
# process each (workers = 0), 1-replica rings, one device under $DIR/srv (needs user xattrs:
# ext4 or xfs, not tmpfs without xattr support). The access key id has the form account:user.
# rgw: Ceph 16's radosgw on a one-monitor, one-OSD cluster (memstore, at most 2 GiB, cephx
# keys in $DIR), no ceph-mgr. It honours conditional PUTs (If-None-Match: *, If-Match with the
# bare hex ETag), which Swift's s3api refuses (501).
# Exit codes: 0 ok, 1 failure (the server's log tail is printed), 2 usage, 3 not running,
# 4 the server cannot run here: a package is missing (scripts/setup.sh installs them) or the
# state directory has no user xattrs.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
SWIFT_SERVERS=(account container object proxy)
START_TIMEOUT=${WEIGHTFS_S3_START_TIMEOUT:-90}

die() {
  local code=$1
  shift
  echo "s3-server: $*" >&2
  exit "$code"
}

usage() {
  sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

state_dir() {
  [ -n "${WEIGHTFS_S3_DIR:-}" ] ||
    die 2 "WEIGHTFS_S3_DIR is not set: set it to the directory 's3-server.sh start' printed"
  echo "$WEIGHTFS_S3_DIR"
}

# True when PID runs and its command line names DIR: a recorded pid that was reused by some
# other process after a crash is never signalled.
ours() {
  local pid=$1 dir=$2 cmdline
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$dir/"* ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

# Prints "NAME PID" for every recorded process.
recorded() {
  local dir=$1 f
  for f in "$dir"/run/*.pid; do
    [ -e "$f" ] || continue
    echo "$(basename "$f" .pid) $(cat "$f")"
  done
}

all_running() {
  local dir=$1 name pid n=0
  while read -r name pid; do
    ours "$pid" "$dir" || return 1
    n=$((n + 1))
  done < <(recorded "$dir")
  [ "$n" -gt 0 ]
}

log_tails() {
  local dir=$1 f
  for f in "$dir"/log/*.log; do
    [ -e "$f" ] || continue
    echo "--- last lines of $f:" >&2
    tail -n 25 "$f" >&2
  done
}

# Sends SIGNAL to the recorded processes called NAME... (all without names) and waits for them
# to exit; SIGKILL for those still there after 5 s.
kill_recorded() {
  local dir=$1 signal=$2 name pid
  shift 2
  local pids=()
  while read -r name pid; do
    if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
    if ours "$pid" "$dir"; then
      kill "-$signal" "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$dir/run/$name.pid"
  done < <(recorded "$dir")
  for _ in $(seq 50); do
    local alive=()
    for pid in "${pids[@]+"${pids[@]}"}"; do
      if ours "$pid" "$dir"; then alive+=("$pid"); fi
    done
    pids=("${alive[@]+"${alive[@]}"}")
    [ ${#pids[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  echo "s3-server: processes ${pids[*]} still run 5 s after SIG$signal; sending SIGKILL" >&2
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die 4 "missing Debian packages: ${missing[*]}; run scripts/setup.sh (or apt-get install ${missing[*]})"
}

# Removes the state directory of a start that failed before any server ran, then dies.
abandon() {
  local dir=$1
  shift
  rm -rf "$dir"
  die "$@"
}

check_xattrs() {
  local dir=$1
  "$PY" - "$dir" <<'EOF' || abandon "$dir" 4 "$dir has no user extended attributes, which Swift's object server needs; set WEIGHTFS_S3_DIR to a directory on ext4 or xfs"
import os, sys
probe = os.path.join(sys.argv[1], '.xattr-probe')
open(probe, 'w').close()
try:
    os.setxattr(probe, 'user.weightfs.probe', b'x' * 200)
finally:
    os.unlink(probe)
EOF
}

random_token() {
  "$PY" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"
}

write_swift_config() {
  local dir=$1 proxy_port=$2 account_port=$3 container_port=$4 object_port=$5 secret=$6
  local etc=$dir/etc user
  user=$(id -un)
  mkdir -p "$etc" "$dir/srv/d1" "$dir/log" "$dir/run"
  cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = $(random_token 8)
swift_hash_path_suffix = $(random_token 8)

[storage-policy:0]
name = Policy-0
default = yes
EOF
  local server port
  for server in account container object; do
    case $server in
      account) port=$account_port ;;
      container) port=$container_port ;;
      object) port=$object_port ;;
    esac
    cat >"$etc/$server-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $user
swift_dir = $etc
devices = $dir/srv
mount_check = false
log_name = $server-server
log_level = INFO
log_address = $dir/log/no-syslog

[pipeline:main]
pipeline = healthcheck $server-server

[filter:healthcheck]
use = egg:swift#healthcheck

[app:$server-server]
use = egg:swift#$server
EOF
  done
  # Only s3api and tempauth do real work; the rest is what s3api needs around it (slo for
  # multipart uploads, copy for CopyObject, dlo and listing_formats for listings; the proxy
  # would add versioned_writes itself).
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $proxy_port
workers = 0
user = $user
swift_dir = $etc
log_name = proxy-server
log_level = INFO
log_address = $dir/log/no-syslog

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
dns_compliant_bucket_names = true

[filter:tempauth]
use = egg:swift#tempauth
user_weightfs_tester = $secret .admin

[filter:cache]
paste.filter_factory = s3_swift:cache_filter_factory

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
  chmod 600 "$etc"/*.conf
}

start_swift() {
  local dir=$1
  check_xattrs "$dir"
  local ports proxy_port account_port container_port object_port
  ports=$("$PY" "$SCRIPTS/s3_swift.py" ports 4 "${WEIGHTFS_S3_PORT:-}") ||
    abandon "$dir" 1 "no ports for the server (message above)"
  read -r proxy_port account_port container_port object_port <<<"$ports"
  local secret
  secret=$(random_token 16)
  write_swift_config "$dir" "$proxy_port" "$account_port" "$container_port" "$object_port" \
    "$secret"
  "$PY" "$SCRIPTS/s3_swift.py" rings "$dir/etc" d1 "$account_port" "$container_port" \
    "$object_port" || abandon "$dir" 1 "building the Swift rings in $dir/etc failed (message above)"
  cat >"$dir/env" <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port
AWS_ACCESS_KEY_ID=weightfs:tester
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
WEIGHTFS_S3_DIR=$dir
EOF
  chmod 600 "$dir/env"
  local server pid ready_args=()
  for server in "${SWIFT_SERVERS[@]}"; do
    # stdio on files, not the caller's pipes: ctest waits for a test's pipes to close.
    PYTHONPATH=$SCRIPTS PYTHONDONTWRITEBYTECODE=1 nohup "$PY" "$SCRIPTS/s3_swift.py" run "$dir/etc" "$server" \
      "$dir/etc/$server-server.conf" </dev/null >>"$dir/log/$server.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/run/$server.pid"
    ready_args+=(--pid "$pid")
  done
  for port in "$account_port" "$container_port" "$object_port"; do
    ready_args+=(--url "http://127.0.0.1:$port/healthcheck")
  done
  "$PY" "$SCRIPTS/s3-probe.py" --env "$dir/env" ready --timeout "$START_TIMEOUT" \
    "${ready_args[@]}" || start_failed "$dir" "the Swift S3 server did not start"
}

write_ceph_config() {
  local dir=$1 mon_port=$2 rgw_port=$3 fsid
  fsid=$("$PY" -c 'import uuid; print(uuid.uuid4())')
  mkdir -p "$dir/mon/a" "$dir/osd/0" "$dir/rgw" "$dir/log" "$dir/run"
  # Every path in $dir; cephx keys in $dir/keyring. memstore keeps the OSD's objects in memory
  # (up to 2 GiB): no block device, nothing to fsync.
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon data = $dir/mon/\$id
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd op num shards = 1
osd op num threads per shard = 1

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
EOF
}

# Runs a Ceph tool on the cluster in DIR; gives up after 60 s instead of hanging.
ceph_tool() {
  local dir=$1 tool=$2
  shift 2
  timeout 60 "$tool" -c "$dir/ceph.conf" "$@"
}

# Fails the start: log tails, stop what runs, keep the state for a look.
start_failed() {
  local dir=$1
  shift
  log_tails "$dir"
  stop_processes "$dir"
  die 1 "$* (logs above; state kept in $dir, 's3-server.sh stop' removes it)"
}

make_ceph_monitor() {
  local dir=$1 mon_port=$2 conf=$1/ceph.conf
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' &&
    ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' \
      --cap osd 'allow *' --cap mgr 'allow *' &&
    ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
      --cap osd 'allow *' --cap mgr 'allow profile osd' &&
    ceph-authtool "$dir/keyring" --gen-key -n client.rgw --cap mon 'allow rw' \
      --cap osd 'allow rwx' --cap mgr 'allow rw' &&
    monmaptool --create --add a "v2:127.0.0.1:$mon_port" \
      --fsid "$(sed -n 's/^fsid = //p' "$conf")" "$dir/monmap" &&
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
}

# A one-monitor, one-OSD Ceph cluster under radosgw: Debian 12's radosgw 16 has no standalone
# (dbstore) backend, it stores only in RADOS. No ceph-mgr: I/O does not need it.
start_rgw() {
  local dir=$1
  local ports mon_port rgw_port
  ports=$("$PY" "$SCRIPTS/s3_swift.py" ports 2 "${WEIGHTFS_S3_PORT:-}") ||
    abandon "$dir" 1 "no ports for the server (message above)"
  read -r rgw_port mon_port <<<"$ports"
  write_ceph_config "$dir" "$mon_port" "$rgw_port"
  local setup_log=$dir/log/setup.log
  make_ceph_monitor "$dir" "$mon_port" </dev/null >>"$setup_log" 2>&1 ||
    start_failed "$dir" "creating the Ceph monitor failed"
  # The daemons fork into the background and write their pid files to $dir/run.
  ceph_tool "$dir" ceph-mon -i a </dev/null >>"$setup_log" 2>&1 ||
    start_failed "$dir" "ceph-mon did not start"
  local uuid id
  uuid=$("$PY" -c 'import uuid; print(uuid.uuid4())')
  if ! {
    id=$(ceph_tool "$dir" ceph --connect-timeout 30 osd new "$uuid" 2>>"$setup_log") &&
      [ "$id" = 0 ] &&
      ceph_tool "$dir" ceph-osd -i 0 --mkfs --osd-uuid "$uuid" </dev/null >>"$setup_log" 2>&1 &&
      ceph_tool "$dir" ceph-osd -i 0 </dev/null >>"$setup_log" 2>&1
  }; then
    start_failed "$dir" "the Ceph OSD did not start"
  fi
  ceph_tool "$dir" radosgw -n client.rgw </dev/null >>"$setup_log" 2>&1 ||
    start_failed "$dir" "radosgw did not start"
  # radosgw-admin makes the keys: no secret on a command line.
  local keys
  keys=$(ceph_tool "$dir" radosgw-admin -n client.rgw user create --uid weightfs \
    --display-name weightfs </dev/null 2>>"$setup_log" | "$PY" -c '
import json, sys
key = json.load(sys.stdin)["keys"][0]
print(key["access_key"], key["secret_key"])') ||
    start_failed "$dir" "radosgw-admin could not create the S3 user"
  local access secret
  read -r access secret <<<"$keys"
  cat >"$dir/env" <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$rgw_port
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
WEIGHTFS_S3_DIR=$dir
EOF
  chmod 600 "$dir/env"
  local name pid ready_args=()
  while read -r name pid; do ready_args+=(--pid "$pid"); done < <(recorded "$dir")
  "$PY" "$SCRIPTS/s3-probe.py" --env "$dir/env" ready --timeout "$START_TIMEOUT" \
    "${ready_args[@]}" || start_failed "$dir" "radosgw does not answer S3 requests"
}

# Ends every process of the server in DIR. radosgw takes many seconds over a SIGTERM and the
# memstore OSD writes all its objects to disk on one, for data that is deleted next: both get
# SIGKILL, before the monitor (an OSD whose monitor is gone is slow to exit).
stop_processes() {
  local dir=$1
  kill_recorded "$dir" KILL client.rgw osd.0
  kill_recorded "$dir" TERM
}

cmd_start() {
  local backend=${1:-swift}
  case $backend in
    swift) need_packages python3-swift python3-boto3 ;;
    rgw) need_packages ceph-mon ceph-osd ceph-base ceph-common radosgw python3-boto3 ;;
    *) die 2 "unknown backend '$backend' (swift or rgw)" ;;
  esac
  local dir
  if [ -n "${WEIGHTFS_S3_DIR:-}" ]; then
    dir=$WEIGHTFS_S3_DIR
    if [ -e "$dir/backend" ]; then
      if all_running "$dir" && [ -s "$dir/env" ]; then
        cat "$dir/env"
        return 0
      fi
      echo "s3-server: $dir holds a server that is not running; starting it afresh" >&2
      stop_processes "$dir"
      rm -rf "$dir"
    elif [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
      die 1 "$dir is not empty and was not made by s3-server.sh; refusing to use (and later delete) it"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
  else
    dir=$(mktemp -d /var/tmp/weightfs-s3.XXXXXX)
  fi
  chmod 700 "$dir"
  echo "$backend" >"$dir/backend"
  "start_$backend" "$dir"
  cat "$dir/env"
}

cmd_stop() {
  local dir
  dir=$(state_dir)
  if [ ! -e "$dir" ]; then
    echo "s3-server: nothing to stop in $dir" >&2
    return 0
  fi
  [ -e "$dir/backend" ] ||
    die 1 "$dir was not made by s3-server.sh (no $dir/backend); not touching it"
  stop_processes "$dir"
  rm -rf "$dir"
}

cmd_status() {
  local dir name pid status=0
  dir=$(state_dir)
  [ -e "$dir/backend" ] || { echo "s3-server: not running (no server in $dir)"; return 3; }
  while read -r name pid; do
    if ours "$pid" "$dir"; then
      echo "$name: running (pid $pid)"
    else
      echo "$name: NOT running (pid $pid); log: $dir/log/$name.log"
      status=3
    fi
  done < <(recorded "$dir")
  [ -n "$(recorded "$dir")" ] || status=3
  [ "$status" -ne 0 ] || sed -n 's/^AWS_ENDPOINT_URL=/endpoint: /p' "$dir/env"
  return "$status"
}

cmd_env() {
  local dir
  dir=$(state_dir)
  [ -s "$dir/env" ] || die 3 "no server in $dir (no $dir/env)"
  cat "$dir/env"
}

cmd_mkbucket() {
  local name=${1:-} dir
  [ -n "$name" ] || usage
  dir=$(state_dir)
  [ -s "$dir/env" ] || die 3 "no server in $dir (no $dir/env); run 's3-server.sh start' first"
  "$PY" "$SCRIPTS/s3-probe.py" --env "$dir/env" mkbucket "$name"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  mkbucket) shift; cmd_mkbucket "$@" ;;
  *) usage ;;
esac
