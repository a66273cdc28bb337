#!/usr/bin/env bash
# Constant-time check of BLS12-381 SkToPk, Sign and PopProve with valgrind's memcheck (ctgrind):
# bls-ct-check marks the secret scalar's bytes undefined, and memcheck reports every conditional
# jump, conditional move or memory address that depends on them.
#   1. the check must finish with zero memcheck errors;
#   2. the control run (a variable-time double-and-add on the same poisoned scalar) must be reported,
#      in our code, so the check cannot pass because the poisoning did nothing.
# Usage: scripts/ct-valgrind.sh [path/to/bls-ct-check]   (default: .build/debug/bls-ct-check)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-.build/debug/bls-ct-check}"
ERROR_CODE=97
log() { printf 'ct-valgrind: %s\n' "$*"; }
die() { log "$*" >&2; exit 1; }

command -v valgrind >/dev/null 2>&1 || die "valgrind is not installed (scripts/install-deps.sh installs it)"
[ -x "$BIN" ] || die "$BIN not found: build it first (swift build --build-tests builds it)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# valgrind 3.19 does not read the DWARF 5 debug information swiftc emits; symbols are enough to
# name the functions in a report, so check a copy without debug sections.
strip --strip-debug -o "$tmp/bls-ct-check" "$BIN"

VALGRIND=(valgrind --tool=memcheck --error-exitcode="$ERROR_CODE" --num-callers=40)

# 1. The check, with the portable field multiplication and, on a CPU with BMI2 and ADX, with the
#    MULX/ADCX/ADOX one (valgrind runs it but hides ADX from CPUID, so it must be asked for).
variants=("")
if grep -qw adx /proc/cpuinfo && grep -qw bmi2 /proc/cpuinfo; then variants+=("--adx"); fi
for variant in "${variants[@]}"; do
  rc=0
  # shellcheck disable=SC2086
  "${VALGRIND[@]}" "$tmp/bls-ct-check" $variant >"$tmp/check.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$tmp/check.log"; then
    cat "$tmp/check.log" >&2
    die "FAILED${variant:+ ($variant)}: memcheck found secret-dependent branches or addresses, or the check failed (exit $rc)"
  fi
  line="$(grep 'bls-ct-check: SkToPk, Sign and PopProve ran on poisoned scalars' "$tmp/check.log")" \
    || { cat "$tmp/check.log" >&2; die "FAILED: the check did not run to the end"; }
  log "memcheck reports 0 errors: ${line#bls-ct-check: }"
done

# 2. The control: must be detected.
rc=0
"${VALGRIND[@]}" "$tmp/bls-ct-check" --control >"$tmp/control.log" 2>&1 || rc=$?
if [ "$rc" -ne "$ERROR_CODE" ] \
  || ! grep -q 'Conditional jump or move depends on uninitialised value' "$tmp/control.log" \
  || ! grep -q 'multipliedVartime' "$tmp/control.log"; then
  cat "$tmp/control.log" >&2
  die "FAILED: the deliberately secret-dependent control was not reported (exit $rc): the check is blind"
fi
grep -q 'plus the variable-time control' "$tmp/control.log" \
  || { cat "$tmp/control.log" >&2; die "FAILED: the control run did not run to the end"; }
log "control: $(grep -m1 -o 'ERROR SUMMARY: [0-9]* errors' "$tmp/control.log") reported for the variable-time multiplication, as expected"
