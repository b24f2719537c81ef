#!/usr/bin/env bash
# A Debian root holding CPython 3.13 for another machine, in which `make layer-size EMULATED_ROOT=DIR` runs
# the layer's smoke test under qemu-user: `scripts/emulated_runtime.sh DIR arm64` (Debian's machine names:
# arm64, amd64). Debian 13's python3.13, like Lambda's, is a release build with the GIL on glibc: the same
# extension file names and ABI, and a glibc (2.41) newer than the layer may need. Needs mmdebstrap and
# qemu-user (apt-get install mmdebstrap qemu-user); packages come from this host's own Debian mirror.
set -euo pipefail
root=${1:?usage: emulated_runtime.sh DIR arm64|amd64}
arch=${2:?usage: emulated_runtime.sh DIR arm64|amd64}
if [ -x "$root/usr/bin/python3.13" ]; then exit 0; fi
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)}
if [ -z "$mirror" ]; then
    echo "emulated_runtime: no Debian mirror in this host's apt sources" >&2
    exit 1
fi
mkdir -p "$(dirname "$root")"
mmdebstrap --quiet --arch="$arch" --variant=extract --include=libc6,python3.13,zlib1g,libstdc++6,libgcc-s1 \
    trixie "$root" "deb $mirror trixie main"
# The extract variant unpacks packages only: the merged-/usr links that the program interpreter's path
# (/lib/ld-linux-<machine>.so.1) goes through are made here.
ln -sfn usr/lib "$root/lib"
ln -sfn usr/bin "$root/bin"
for loader in "$root"/usr/lib/*-linux-gnu/ld-linux-*.so.[0-9]; do
    ln -sfn "${loader#"$root"/usr/lib/}" "$root/usr/lib/$(basename "$loader")"
done
test -x "$root/usr/bin/python3.13"
