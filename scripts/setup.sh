#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of weightfs from Debian's packages.
# Idempotent: packages already present are not reinstalled; apt-get update runs only when needed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  clang libclang-rt-dev llvm  # sanitizer builds and libFuzzer (clang 14); llvm-symbolizer for reports
  clang-format clang-tidy     # scripts/lint.sh
  libfuse3-dev fuse3
  libssl-dev openssl
  libcurl4-openssl-dev         # the S3 store
  libyaml-cpp-dev
  libboost-filesystem-dev
  libcli11-dev nlohmann-json3-dev
  googletest libgtest-dev libgmock-dev
  python3 python3-numpy
  gocryptfs securefs
  attr psmisc util-linux
  rsync tar
  python3-swift python3-boto3  # scripts/s3-server.sh (Swift's s3api on 127.0.0.1), s3-probe.py
  ceph-mon ceph-osd ceph-base ceph-common radosgw  # scripts/s3-server.sh start rgw
  awscli s3fs rclone           # scripts/bench_s3.sh
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
