#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine with the Swift toolchain:
# Debian packages, pcscd with vpcd, build, `swift test`, fuzzing, and the
# aarch64 device firmware for both images (scripts/device-test.sh).
source "$(dirname "$0")/common.sh"
cd "$ROOT"

install_packages
# The device firmware's cross builds need only the CPU: they run from the
# start, at the lowest priority, so the x86 build and the tests' timing come
# first. (POSD_DEVICE=0 leaves the device firmware out.)
device_build=""
if [ "${POSD_DEVICE:-1}" != 0 ]; then
  echo "== cross-building the device firmware in the background (log: run/device-build.log)"
  $SUDO nice -n 19 scripts/device-test.sh build >"$RUN_DIR/device-build.log" 2>&1 &
  device_build=$!
  STARTED_PIDS+=($device_build)
fi

echo "== building (debug, with tests)"
swift build --build-tests
start_pcscd
wait_for_readers "$(swift build --show-bin-path)/posd"

echo "== swift test"
# Bounded: a hung reader must fail the run, not eat CI's time.
timeout 1800 swift test --skip-build

echo "== fuzzing (libFuzzer, ${POSD_FUZZ_SECONDS:-15} s a target, from Tests/Fixtures/fuzz)"
scripts/fuzz.sh "${POSD_FUZZ_SECONDS:-15}"

if [ -n "$device_build" ]; then
  echo "== device firmware: waiting for the cross builds"
  status=0
  wait "$device_build" || status=$?
  grep -E '^== |^cross-build: (making|built)' "$RUN_DIR/device-build.log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$RUN_DIR/device-build.log"
    echo "device firmware: the cross builds failed ($status)" >&2
    exit 1
  fi
  echo "== device firmware: emulated checks, bundles and footprint (both images)"
  scripts/device-test.sh check
fi
