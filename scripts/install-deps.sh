#!/usr/bin/env bash
# Installs the Debian packages ccgate needs to build, test and demo.
# Idempotent: it asks dpkg-query for each package and calls apt-get only for the missing ones, naming
# them; with every package present it prints nothing and never calls apt-get (tests/cli/test_deps.sh).
set -euo pipefail

packages=(
  build-essential cmake clang llvm libclang-rt-14-dev pkg-config
  libssl-dev openssl libjansson-dev libcurl4-openssl-dev libcmocka-dev
  libmicrohttpd-dev libsqlite3-dev python3 python3-jwcrypto ovmf xxd curl
  softhsm2 libp11-kit-dev
)
packages+=(fuse3 libfuse3-dev) # attester tests: the configfs-tsm stand-in (tests/support/tsm_fuse.c)
packages+=(age) # scripts/bench-unseal.sh: `age -d` is the unseal benchmark's anchor
packages+=(libxmlsec1-dev libxmlsec1-openssl libxml2-dev) # NVIDIA RIMs: XML signatures (src/evidence/gpu/gpu_rim_sig.c)
packages+=(libseccomp-dev) # the agent's seccomp filter (src/agent/harden.c)
packages+=(help2man) # man pages from each command's --help (cmake/man.cmake)
packages+=(systemd) # systemd-analyze verify on the units (tests/cli/test_install.sh)
packages+=(dpkg-dev) # make deb: dpkg-shlibdeps (packaging/build-deb.sh; dpkg-deb --root-owner-group needs no fakeroot)
packages+=(postgresql libpq-dev) # the PostgreSQL store (issue 15)
packages+=(haproxy) # the plain load balancer in front of several broker instances (tests/cli/test_kbs_multi.sh)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Everything present: say nothing and never call apt-get (a second `make` is silent).
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
