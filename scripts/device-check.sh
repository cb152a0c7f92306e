#!/usr/bin/env bash
# After scripts/cross-build.sh IMAGE posd posd-tech: the device firmware for
# IMAGE made and proved on the x86 bench.
#
#   scripts/device-check.sh debian12|debian13
#
# 1. Under qemu-aarch64 (QEMU_LD_PREFIX = the image's sysroot), the stripped
#    aarch64 posd against the bench's pcscd and vcard: readers, a purchase,
#    the card's balance, journal verify; the money judged from the card's state file.
# 2. A firmware bundle of the stripped binaries (`posd-tech bundle build`, the
#    bench's own posd-tech), signed with $POSD_BUNDLE_KEY (a vendor key from
#    `posd-tech bundle keygen`; without one, a key made for this run), then
#    verified as a terminal would: `posd-tech flash` into a scratch firmware
#    root trusting that key, beside the journal the emulated posd wrote.
# Prints sizes and times. Needs root for apt (qemu-user-static) only.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
image=${1:?usage: $0 debian12|debian13}
release="$ROOT/.build-aarch64-$image/release"
sysroot="${POSD_CROSS_DIR:-$ROOT/.build-cross}/$image-arm64"
for file in "$release/posd" "$release/posd-tech" "$sysroot/.complete"; do
  [ -e "$file" ] || { echo "device-check: $file missing: run scripts/cross-build.sh $image posd posd-tech first" >&2; exit 66; }
done
command -v qemu-aarch64-static >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-user-static >/dev/null
install_packages
swift build --product posd-tech --product vcard --product posd >/dev/null
bin=$(swift build --show-bin-path)
objcopy=$(command -v llvm-objcopy) || { echo "device-check: llvm-objcopy (the Swift toolchain's) is needed to strip aarch64 binaries" >&2; exit 69; }

scratch=$(mktemp -d)
trap 'stop_started; rm -rf "$scratch"' EXIT
mkdir -p "$scratch/firmware"
for tool in posd posd-tech; do
  "$objcopy" --strip-all "$release/$tool" "$scratch/firmware/$tool"
done
size() { stat -c %s "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
echo "== $image firmware: posd $(size "$release/posd") ($(size "$scratch/firmware/posd") stripped), posd-tech $(size "$scratch/firmware/posd-tech") stripped"

start_pcscd
wait_for_readers "$bin/posd"
serve_simulators "$bin/vcard" "$scratch"
# The bench's pcscd is Debian 12's (pcsc-lite 1.9.9) and refuses the client
# protocol of Debian 13's libpcsclite (2.x): the emulated posd takes Debian 12's
# aarch64 client library whatever the image (on a device, pcscd and the client
# library come from the same image).
bench_pcsc="${POSD_CROSS_DIR:-$ROOT/.build-cross}/debian12-arm64/usr/lib/aarch64-linux-gnu/libpcsclite.so.1.0.0"
[ -e "$bench_pcsc" ] || { echo "device-check: $bench_pcsc missing: run scripts/cross-build.sh debian12 once" >&2; exit 66; }
mkdir -p "$scratch/bench-pcsc"
cp "$bench_pcsc" "$scratch/bench-pcsc/libpcsclite.so.1"
emulated() { QEMU_LD_PREFIX="$sysroot" LD_LIBRARY_PATH="$scratch/bench-pcsc" qemu-aarch64-static "$scratch/firmware/posd" "$@"; }
for i in $(seq 1 100); do
  [ "$(emulated readers 2>/dev/null | grep -c '^Virtual PCD 00 0[01]$')" -eq 2 ] && break
  sleep 0.1
done
started=$(date +%s%N)
emulated purchase --amount 100 --json --data-dir "$scratch/data" | tee "$scratch/sale.json"
took=$(( ($(date +%s%N) - started) / 1000000 ))
grep -q '"result":"approved"' "$scratch/sale.json"
balance=$(python3 -c "import json; print(json.load(open('$scratch/card.json'))['balance'])")
[ "$balance" -eq 9900 ] || { echo "device-check: the card holds $balance fen, not 9900" >&2; exit 1; }
emulated balance --json | grep -q '"balance":9900'
emulated journal verify --data-dir "$scratch/data"
echo "== $image under qemu: purchase approved in ${took} ms, the card paid exactly 100 fen (9900 left), balance and journal verify pass"

key=${POSD_BUNDLE_KEY:-}
if [ -z "$key" ]; then
  key="$scratch/vendor.key"
  "$bin/posd-tech" bundle keygen --out "$key" >/dev/null
fi
version=${POSD_VERSION:-0.0.0}
bundle="$scratch/posd-$image-$version.bundle"
"$bin/posd-tech" bundle build --version "$version" --out "$bundle" "$scratch/firmware/posd" "$scratch/firmware/posd-tech" >/dev/null
"$bin/posd-tech" bundle sign --key "$key" "$bundle" >/dev/null
mkdir -p "$scratch/root/trusted-keys"
cp "$key.pub" "$scratch/root/trusted-keys/vendor.pub"
# The journal the emulated posd wrote holds an undelivered sale (no platform here): --force.
"$bin/posd-tech" flash "$bundle" --root "$scratch/root" --data-dir "$scratch/data" --force | tr '\r' '\n' | tail -2
echo "== $image bundle $(size "$bundle"), signed, verified and written by posd-tech flash (scratch root)"
if [ -n "${POSD_BUNDLE_OUT:-}" ]; then cp "$bundle" "$POSD_BUNDLE_OUT"; fi

