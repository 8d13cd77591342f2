#!/usr/bin/env bash
# Builds the Debian package from a configured and built tree: packaging/build-deb.sh BUILD_DIR OUT_DIR
# (docs/install.md). The tree must be configured with -DCMAKE_INSTALL_PREFIX=/usr (`make deb` does).
# It installs the tree into a staging root (cmake --install, DESTDIR), computes Depends with
# dpkg-shlibdeps from the ELF files' DT_NEEDED, and writes ccgate_VERSION_ARCH.deb with dpkg-deb,
# owned by root inside the archive (--root-owner-group: no fakeroot needed). Prints the .deb's path.
# One binary package (programs and libccgate together); the Maintainer field is a placeholder until the
# project publishes a contact (SECURITY.md).
set -euo pipefail
bd=$(realpath "${1:?usage: build-deb.sh BUILD_DIR OUT_DIR}")
out=$(realpath -m "${2:?usage: build-deb.sh BUILD_DIR OUT_DIR}")
src=$(cd "$(dirname "$0")/.." && pwd)

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$bd/CMakeCache.txt")
[ "$prefix" = /usr ] || { echo "build-deb: $bd is configured for $prefix, not /usr" >&2; exit 2; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$bd/CMakeCache.txt")
[ -n "$version" ] || version=$(sed -n 's/^project(ccgate VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
DESTDIR=$stage cmake --install "$bd" >/dev/null
# Debian's copyright file is the licence (Apache-2.0).
install -m 0644 "$src/LICENSE" "$stage/usr/share/doc/ccgate/copyright"

# Depends: the packages of every shared library the programs and libccgate need. dpkg-shlibdeps reads
# debian/control for the package's name, so it runs in a directory that has a minimal one.
mapfile -t elves < <(find "$stage" -type f -exec sh -c 'head -c4 "$1" | grep -q "^.ELF"' _ {} \; -print | sort)
mkdir -p "$work/src/debian"
printf 'Source: ccgate\n\nPackage: ccgate\nArchitecture: any\n' >"$work/src/debian/control"
libdirs=()
while IFS= read -r d; do libdirs+=("-l$d"); done < <(find "$stage" -name 'libccgate.so*' -printf '%h\n' | sort -u)
depends=$(cd "$work/src" && dpkg-shlibdeps -O "${libdirs[@]}" "${elves[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: ccgate
Version: $version-1
Architecture: $arch
Maintainer: ccgate maintainers <ccgate@localhost>
Installed-Size: $size
Depends: $depends
Recommends: systemd
Suggests: softhsm2
Section: admin
Priority: optional
Description: attestation-gated key broker for confidential AI workloads
 ccgate releases model keys only to workloads whose hardware attestation
 (AMD SEV-SNP, Intel TDX, NVIDIA Hopper confidential computing) passes a
 release policy. The package holds the key broker ccgate-kbs, the guest
 agent ccgate-agent, the runner, the ccgate command, the verifier library
 libccgate with its headers and pkg-config file, hardened systemd units,
 man pages, bash completions and example configurations.
CONTROL
# The shared library: ldconfig runs after installation (the trigger every library package uses).
echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"
install -m 0755 "$src/packaging/debian/postinst" "$stage/DEBIAN/postinst"
install -m 0755 "$src/packaging/debian/postrm" "$stage/DEBIAN/postrm"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/ccgate_${version}-1_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
