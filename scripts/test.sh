#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine with the Swift toolchain:
# Debian packages, pcscd with vpcd, build, `swift test`.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

install_packages
echo "== building (debug, with tests)"
swift build --build-tests
start_pcscd
wait_for_readers "$(swift build --show-bin-path)/posd"

echo "== swift test"
# Bounded: a hung reader must fail the run, not eat CI's time.
timeout 1800 swift test --skip-build

echo "== fuzzing (libFuzzer, ${POSD_FUZZ_SECONDS:-15} s a target, from Tests/Fixtures/fuzz)"
scripts/fuzz.sh "${POSD_FUZZ_SECONDS:-15}"
