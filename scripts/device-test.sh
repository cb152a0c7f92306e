#!/usr/bin/env bash
# The device firmware for both images, built, proved and measured on the bench
# (scripts/test.sh runs it; it can also run alone):
#
#   scripts/device-test.sh [build|check|all]      (default: all)
#   scripts/device-test.sh suites [--filter ...]   every suite under qemu (by hand: not in CI)
#
#   build  scripts/cross-build.sh debian12 (posd, posd-tech), then debian13
#          (posd, posd-tech and the pure test suites): CPU only, so
#          scripts/test.sh runs it beside the x86 tests
#   check  the pure suites (ISO 7816, purse flows, cashier, fares) under
#          qemu-aarch64; then for each image scripts/device-check.sh (the
#          emulated purchase, balance and journal verify; the signed bundle
#          verified by flash) and scripts/footprint.sh (size, no ICU, cold
#          start, memory). Under emulation the property harness runs 5 000
#          hostile purchases, not 20 000. These use the shared pcscd's vpcd slots, so never
#          beside swift test.
#
# The suites run on the Debian 13 root: their runner links sid's shared Swift
# runtime, which needs glibc 2.38 (the firmware links that runtime statically
# and runs on Debian 12's 2.36, as device-check.sh proves).
# Build times and every figure are printed; a failure of either step fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:-all}
images=(debian12 debian13)

if [ "$step" = build ] || [ "$step" = all ]; then
  for image in "${images[@]}"; do
    started=$(date +%s)
    extra=()
    [ "$image" = debian13 ] && extra=(pure-tests)
    scripts/cross-build.sh "$image" posd posd-tech "${extra[@]}"
    echo "== $image: posd, posd-tech ${extra[*]} cross-built in $(( $(date +%s) - started )) s"
  done
fi
if [ "$step" = suites ]; then
  # Every suite for aarch64 (scripts/cross-build.sh debian13 tests), under
  # qemu, against the bench's pcscd. The programs the suites start (posd,
  # vcard, clearing-platform, ...) are aarch64 too: binfmt_misc runs them
  # through qemu, registered in a user namespace of this script's own (kernel
  # 6.7 and later), so nothing changes on the machine. What the suites start
  # inherits the emulator's environment (QEMU_LD_PREFIX, LD_LIBRARY_PATH).
  command -v qemu-aarch64-static >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  cross="${POSD_CROSS_DIR:-$PWD/.build-cross}"
  bin="$PWD/.build-aarch64-tests/aarch64-unknown-linux-gnu/debug"
  [ -x "$bin/posdPackageTests.xctest" ] || { echo "device-test: run scripts/cross-build.sh debian13 tests first" >&2; exit 66; }
  # The bench's pcscd (pcsc-lite 1.9.9) speaks only Debian 12's client protocol.
  mkdir -p "$PWD/run/bench-pcsc"
  cp "$cross/debian12-arm64/usr/lib/aarch64-linux-gnu/libpcsclite.so.1.0.0" "$PWD/run/bench-pcsc/libpcsclite.so.1"
  shift || true
  echo "== every suite, aarch64, under qemu on the debian13 root"
  unshare --user --map-root-user --mount --fork bash -s "$bin" "$cross/debian13-arm64" "$PWD" "$@" <<'INNER'
set -euo pipefail
bin=$1 root=$2 repo=$3
shift 3
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
  > /proc/sys/fs/binfmt_misc/register
# Emulated programs are several times slower: timeouts tuned to the bench scale (TestSupport.scaled).
export QEMU_LD_PREFIX="$root" LD_LIBRARY_PATH="$repo/run/bench-pcsc:$root/usr/lib/swift/linux:$bin" POSD_REPOSITORY="$repo" \
  POSD_TIME_SCALE="${POSD_TIME_SCALE:-10}" POSD_FUZZ_RUNS="${POSD_FUZZ_RUNS:-3000}"
exec "$bin/posdPackageTests.xctest" --testing-library swift-testing "$@"
INNER
  exit
fi
if [ "$step" = check ] || [ "$step" = all ]; then
  command -v qemu-aarch64-static >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  root="${POSD_CROSS_DIR:-$PWD/.build-cross}/debian13-arm64"
  echo "== the pure test suites, aarch64, under qemu on the debian13 root"
  QEMU_LD_PREFIX="$root" LD_LIBRARY_PATH="$root/usr/lib/swift/linux:$PWD/.build-aarch64-debian13/pure-tests-lib" POSD_FIXTURES="$PWD/Tests/Fixtures" POSD_FUZZ_RUNS=5000 \
    qemu-aarch64-static .build-aarch64-debian13/pure-tests --testing-library swift-testing 2>&1 | grep -E '✘|Test run with'
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "device-test: the pure suites failed under qemu" >&2; exit 1; }
  for image in "${images[@]}"; do
    scripts/device-check.sh "$image"
    scripts/footprint.sh "$image"
  done
fi
