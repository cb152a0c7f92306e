#!/usr/bin/env bash
# The device firmware's footprint, measured and printed beside its targets:
#
#   scripts/footprint.sh debian12|debian13      (after scripts/cross-build.sh IMAGE posd)
#
#   size    the stripped static aarch64 posd: <= 30 MB, no ICU and no
#           Foundation linked (symbols of the unstripped binary)
#   start   `posd run` under qemu-aarch64, from exec to its "ready" line
#           (READY=1 to systemd is sent at the same point)
#   memory  resident memory of `posd run` idle: <= 30 MB. Judged on the same
#           source built natively (x86-64 release, static Swift runtime):
#           under qemu the process is the emulator too (its translated code
#           and its own heap), so that figure is printed as an upper bound.
#
#   scripts/footprint.sh --native IMAGE   also builds the native posd (else
#                                         the native figures need .build/release/posd)
#
# The terminal runs as a provisioned validator against the bench's pcscd, the
# card and PSAM simulators and the reference platform on loopback. Exits 1
# when a figure misses its target.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
native_build=""
if [ "${1:-}" = --native ]; then native_build=1; shift; fi
image=${1:?usage: $0 [--native] debian12|debian13}
release="$ROOT/.build-aarch64-$image/release"
sysroot="${POSD_CROSS_DIR:-$ROOT/.build-cross}/$image-arm64"
for file in "$release/posd" "$sysroot/.complete"; do
  [ -e "$file" ] || { echo "footprint: $file missing: run scripts/cross-build.sh $image posd first" >&2; exit 66; }
done
command -v qemu-aarch64-static >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-user-static >/dev/null
install_packages
for product in posd-tech vcard posd clearing-platform; do swift build --product "$product" >/dev/null; done  # one --product a call
bin=$(swift build --show-bin-path)
objcopy=$(command -v llvm-objcopy) || { echo "footprint: llvm-objcopy (the Swift toolchain's) is needed" >&2; exit 69; }
nm=$(command -v llvm-nm) || { echo "footprint: llvm-nm (the Swift toolchain's) is needed" >&2; exit 69; }

scratch=$(mktemp -d)
trap 'stop_started; rm -rf "$scratch"' EXIT
missed=0
report() {  # name, measured, unit, target, verdict
  printf '%-62s %8s %-3s target %-9s %s\n' "$1" "$2" "$3" "$4" "$5"
  [ "$5" = ok ] || missed=1
}
within() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' && echo ok || echo MISSED; }

# Size, and what is linked.
"$objcopy" --strip-all "$release/posd" "$scratch/posd"
mb=$(stat -c %s "$scratch/posd" | awk '{ printf "%.1f", $1 / 1e6 }')
echo "== $image: posd for aarch64, $(stat -c %s "$release/posd" | awk '{ printf "%.1f MB", $1 / 1e6 }') unstripped"
report "stripped static posd" "$mb" MB "<= 30" "$(within "$mb" 30)"
icu=$("$nm" "$release/posd" | grep -c -E 'icudt|ucol_open|ubrk_open' || true)
foundation=$("$nm" "$release/posd" | grep -c 's10Foundation' || true)
report "ICU symbols" "$icu" "" "0" "$([ "$icu" -eq 0 ] && echo ok || echo MISSED)"
report "Foundation (not FoundationEssentials) symbols" "$foundation" "" "0" "$([ "$foundation" -eq 0 ] && echo ok || echo MISSED)"
echo "   dynamic libraries: $(llvm-readelf -d "$release/posd" | awk '/NEEDED/ { gsub(/[\[\]]/, "", $5); printf "%s ", $5 }')"
# posd-tech travels in the same bundle over the same cellular link: lean too.
if [ -e "$release/posd-tech" ]; then
  "$objcopy" --strip-all "$release/posd-tech" "$scratch/posd-tech"
  report "stripped static posd-tech" "$(stat -c %s "$scratch/posd-tech" | awk '{ printf "%.1f", $1 / 1e6 }')" MB "(printed)" ok
  tech_foundation=$("$nm" "$release/posd-tech" | grep -c -E 's10Foundation|icudt' || true)
  report "posd-tech: Foundation (not FoundationEssentials) and ICU symbols" "$tech_foundation" "" "0" "$([ "$tech_foundation" -eq 0 ] && echo ok || echo MISSED)"
fi

# A provisioned validator on the bench.
start_pcscd
wait_for_readers "$bin/posd"
serve_simulators "$bin/vcard" "$scratch" --absent
terminal_id=112233445566   # the test PSAM's terminal number
port=${CLEARING_PORT:-18090}
(umask 077 && head -c 24 /dev/urandom | base64 > "$scratch/token")
"$bin/clearing-platform" --db "$scratch/clearing.sqlite" --port "$port" --enroll "$terminal_id:$scratch/token" >"$scratch/clearing.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^listening on' "$scratch/clearing.log" && break; sleep 0.1; done
"$bin/posd-tech" provision --data-dir "$scratch/data" --terminal-id "$terminal_id" --clearing-url "http://127.0.0.1:$port" \
  --token-file "$scratch/token" --mode validator --line 18 --stop 1 \
  --card-reader "Virtual PCD 00 00" --psam-reader "Virtual PCD 00 01" >/dev/null

# The bench's pcscd (pcsc-lite 1.9.9) speaks only to a client library of its
# own protocol: the emulated posd takes Debian 12's, whatever the image.
bench_pcsc="${POSD_CROSS_DIR:-$ROOT/.build-cross}/debian12-arm64/usr/lib/aarch64-linux-gnu/libpcsclite.so.1.0.0"
mkdir -p "$scratch/bench-pcsc"
cp "$bench_pcsc" "$scratch/bench-pcsc/libpcsclite.so.1"

rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# `posd run` by RUNNER... on a fresh copy of the provisioned data directory:
# cold start (exec to the "ready" line, polled every 10 ms), then resident
# memory once settled a few seconds after (its first sync with the platform done).
measure() {
  local label=$1 judged=$2
  shift 2
  rm -rf "$scratch/run-data" && cp -a "$scratch/data" "$scratch/run-data"
  local started ready="" pid idle
  started=$(date +%s%N)
  "$@" run --data-dir "$scratch/run-data" >"$scratch/run.out" 2>"$scratch/run.err" &
  pid=$!
  STARTED_PIDS+=($pid)  # stopped at exit whatever happens: a posd left running would hold the bench's readers
  for _ in $(seq 1 6000); do
    if grep -qw 'ready' "$scratch/run.err"; then ready=$(( ($(date +%s%N) - started) / 1000000 )); break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  if [ -z "$ready" ]; then
    echo "footprint: posd run ($label) did not get ready:" >&2
    tail -5 "$scratch/run.err" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  report "cold start to READY, $label" "$ready" ms "(printed)" ok
  sleep 5
  idle=$(rss "$pid")
  if [ "$judged" = judged ]; then
    report "resident memory idle, $label" "$idle" MB "<= 30" "$(within "$idle" 30)"
  else
    report "resident memory idle, $label" "$idle" MB "(bound)" ok
  fi
  kill -TERM "$pid"
  wait "$pid" || true
}

# (`env` execs what it runs, so the PID measured is the emulator's own.)
measure "aarch64 under qemu (emulator included)" bound \
  env QEMU_LD_PREFIX="$sysroot" LD_LIBRARY_PATH="$scratch/bench-pcsc" qemu-aarch64-static "$scratch/posd"

if [ -n "$native_build" ]; then
  swift build -c release --product posd --static-swift-stdlib >/dev/null
fi
native="$ROOT/.build/release/posd"
if [ -x "$native" ]; then
  measure "x86-64 native, same source" judged "$native"
else
  echo "   (no native release posd: scripts/footprint.sh --native $image measures memory natively)"
fi
exit "$missed"
