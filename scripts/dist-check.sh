#!/usr/bin/env bash
# make dist-check: the release tarball runs where no Swift toolchain is. A Debian bookworm root
# made by `debootstrap --variant=minbase` (cached in .build-distroot/base), plus only the
# packages the tarball's DEPENDENCIES names, gets the tarball unpacked in /opt; then, by
# chroot, `custos --version` and the demo's key steps (scripts/dist-check-steps.sh) run there.
# Needs root (debootstrap, chroot) and the Debian archive. Not part of `make test` (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

tarball="${1:-$(ls -t dist/custos-*-linux-*.tar.gz 2>/dev/null | head -1)}"
[ -n "$tarball" ] && [ -f "$tarball" ] || { echo "dist-check: no tarball; run make dist first" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "dist-check: needs root (debootstrap and chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "dist-check: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
started=$(date +%s)

roots=.build-distroot
base="$roots/base"
if [ ! -e "$base/.complete" ]; then
  rm -rf "$base"
  echo "dist-check: debootstrap --variant=minbase bookworm into $base (once)"
  debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >"$roots/debootstrap.log" 2>&1 \
    || { tail -20 "$roots/debootstrap.log" >&2; exit 2; }
  touch "$base/.complete"
fi

name="$(basename "$tarball" .tar.gz)"
packages="$(tar -xOzf "$tarball" "$name/DEPENDENCIES" | grep -v '^#' | sort -u | tr '\n' ' ')"
[ -n "$packages" ] || { echo "dist-check: $tarball names no package in DEPENDENCIES" >&2; exit 2; }
# One root per package set, made from the pristine base and kept for the next run.
root="$roots/root-$(printf '%s' "$packages" | sha256sum | cut -c1-16)"
if [ ! -e "$root/.complete" ]; then
  rm -rf "$root"
  cp -a "$base" "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  echo "dist-check: apt-get install $packages"
  unshare -m bash -c "mount -t proc proc '$root/proc' && chroot '$root' apt-get update -q && \
    DEBIAN_FRONTEND=noninteractive chroot '$root' apt-get install -y -q --no-install-recommends $packages" >"$roots/apt.log" 2>&1 \
    || { tail -20 "$roots/apt.log" >&2; exit 2; }
  touch "$root/.complete"
fi
prepared=$(date +%s)

# A fresh install of this tarball; nothing of a Swift toolchain in the root.
rm -rf "$root/opt/$name" "$root/opt/custos" "$root/tmp/dist-check"
tar -xzf "$tarball" -C "$root/opt"
ln -s "$name" "$root/opt/custos"
cp scripts/dist-check-steps.sh "$root/opt/dist-check-steps.sh"
if [ -e "$root/opt/swift" ] || ls "$root"/usr/lib/swift* "$root"/usr/bin/swift* >/dev/null 2>&1 \
   || find "$root" -xdev \( -name 'libswiftCore.so*' -o -name 'libFoundation.so*' \) -print -quit | grep -q .; then
  echo "dist-check: the root holds a Swift toolchain or runtime; the check would prove nothing" >&2; exit 2
fi
echo "dist-check: root $root: Debian $(cat "$root/etc/debian_version") minbase + $packages($(du -sm --exclude=opt "$root" | cut -f1) MB), no Swift"

unshare -m bash -c "mount -t proc proc '$root/proc' && mount --bind /dev '$root/dev' && \
  chroot '$root' /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /bin/bash /opt/dist-check-steps.sh"
finished=$(date +%s)
echo "dist-check: passed: prepare $((prepared - started))s, run $((finished - prepared))s"
