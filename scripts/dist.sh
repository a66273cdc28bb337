#!/usr/bin/env bash
# make dist: a release tarball that runs without a Swift toolchain (docs/install.md).
#   dist/custos-VERSION-linux-ARCH.tar.gz with bin/custos (release build, Swift standard library
#   linked statically, stripped, the git commit written in), the docs, the CHANGELOG, the systemd
#   unit, a sample configuration, and DEPENDENCIES: the Debian packages the binary needs, read
#   from ldd and dpkg -S on the binary itself.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT="${SWIFT:-swift}"
SCRATCH="${CUSTOS_RELEASE_SCRATCH:-.build-release}"

started=$(date +%s)
# nice: a release build takes minutes and the machine is shared.
nice -n 10 "$SWIFT" build -c release --static-swift-stdlib --product custos --scratch-path "$SCRATCH"
built=$(date +%s)
bin="$("$SWIFT" build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --show-bin-path)/custos"

# The commit, written into the binary's .custos_commit section (Sources/CBuildInfo): no rebuild
# per commit. A tree with uncommitted changes says so.
commit="$(git rev-parse HEAD)"
git diff --quiet HEAD -- || commit="$commit-dirty"
[ "${#commit}" -lt 64 ] || { echo "dist: commit text too long: $commit" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/custos-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT
{ printf '%s' "$commit"; head -c $((64 - ${#commit})) /dev/zero; } >"$work/commit.bin"
objcopy --update-section .custos_commit="$work/commit.bin" "$bin" "$work/custos"
strip "$work/custos"

version_json="$("$work/custos" version --json)"
version="$(printf '%s' "$version_json" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')"
stamped="$(printf '%s' "$version_json" | sed -n 's/.*"commit":"\([^"]*\)".*/\1/p')"
[ -n "$version" ] || { echo "dist: no version in: $version_json" >&2; exit 2; }
[ "$stamped" = "$commit" ] || { echo "dist: the binary says commit '$stamped', expected '$commit'" >&2; exit 2; }

arch="$(uname -m)"
name="custos-$version-linux-$arch"
stage="$work/$name"
mkdir -p "$stage/bin" "$stage/packaging"
install -m 0755 "$work/custos" "$stage/bin/custos"
cp README.md CHANGELOG.md "$stage/"
[ -f LICENSE ] && cp LICENSE "$stage/"
cp -r docs "$stage/docs"
cp packaging/custos.service packaging/custos.sysusers packaging/custos.json "$stage/packaging/"
[ -d packaging/prometheus ] && cp -r packaging/prometheus "$stage/packaging/prometheus"

# DEPENDENCIES: each shared library the binary loads, mapped to the Debian package that owns it.
# Debian merged /lib into /usr/lib, and dpkg knows a file by one of the two names.
owner() {
  local path="$1" real
  real="$(readlink -f "$path")"
  for candidate in "$path" "$real" "${path/#\/lib\//\/usr\/lib\/}" "${path/#\/usr\/lib\//\/lib\/}" \
                   "${real/#\/lib\//\/usr\/lib\/}" "${real/#\/usr\/lib\//\/lib\/}"; do
    if out="$(dpkg -S "$candidate" 2>/dev/null)"; then printf '%s\n' "${out%%:*}"; return 0; fi
  done
  echo "dist: no Debian package owns $path" >&2
  return 1
}
if ldd "$stage/bin/custos" | grep -q '/swift/'; then
  ldd "$stage/bin/custos" >&2; echo "dist: the binary loads a Swift runtime library from a toolchain" >&2; exit 2
fi
if ldd "$stage/bin/custos" | grep -q 'not found'; then
  ldd "$stage/bin/custos" >&2; echo "dist: the binary links a library that is not installed" >&2; exit 2
fi
# Every library ldd resolves (with its package, for the record), and the packages of the ones the
# binary names itself (DT_NEEDED): apt brings the rest as their dependencies.
libs="$(ldd "$stage/bin/custos" | awk '/=>/ { print $3 } !/=>/ && $1 ~ /^\// { print $1 }' | sort -u)"
needed="$(readelf -d "$stage/bin/custos" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
packages="$(for name in $needed; do
  path="$(ldd "$stage/bin/custos" | awk -v n="$name" '$1 == n && /=>/ { print $3 }')"
  [ -n "$path" ] || path="$(ldd "$stage/bin/custos" | awk -v n="$name" '$1 ~ n { print $1 }' | head -1)"
  owner "$path"
done | sed 's/:[a-z0-9]*$//' | sort -u)" || exit 2
[ "$(printf '%s\n' "$packages" | grep -c .)" -gt 0 ] || { echo "dist: no package found for $needed" >&2; exit 2; }
{
  echo "# Debian packages (bookworm) that bin/custos needs at run time: apt-get install \$(grep -v '^#' DEPENDENCIES)"
  echo "# The libraries the binary links (readelf -d): $(printf '%s' "$needed" | tr '\n' ' ')"
  echo "# Every library loaded, with its package (ldd, dpkg -S):"
  for lib in $libs; do printf '#   %s (%s)\n' "$lib" "$(owner "$lib" | sed 's/:[a-z0-9]*$//')"; done
  echo "# Loaded only when used, with dlopen (not listed by ldd):"
  echo "#   a TPM root: libtss2-tcti-device0 (device:/dev/tpmrm0), or libtss2-tcti-swtpm0 / libtss2-tcti-tabrmd0"
  echo "#   a PKCS#11 root or HSM: the token's own module (for example softhsm2 or opensc-pkcs11)"
  printf '%s\n' "$packages"
} >"$stage/DEPENDENCIES"

mkdir -p dist
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"
done_at=$(date +%s)
printf 'dist: dist/%s.tar.gz\n' "$name"
printf 'dist: %s\n' "$("$stage/bin/custos" --version)"
printf 'dist: release build %ss, binary %s bytes stripped (%s before), tarball %s bytes\n' \
  "$((built - started))" "$(stat -c %s "$stage/bin/custos")" "$(stat -c %s "$bin")" "$(stat -c %s "dist/$name.tar.gz")"
printf 'dist: run-time packages: %s\n' "$(printf '%s' "$packages" | tr '\n' ' ')"
echo "dist: total $((done_at - started))s"
