#!/usr/bin/env bash
# Builds posd-fuzz with libFuzzer (swiftc -sanitize=fuzzer) and runs every
# fuzz target for a bounded time from the corpus in Tests/Fixtures/fuzz.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
#
# The corpus is copied to a scratch directory first, so the repository is
# never written; inputs libFuzzer finds that break an invariant are kept in
# $POSD_FUZZ_OUT (default .build-fuzz/findings) and make the script fail:
# add each to Tests/Fixtures/fuzz/<target>/ with the fix, as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
build=${POSD_FUZZ_BUILD:-.build-fuzz}
out=${POSD_FUZZ_OUT:-$build/findings}

# Release (-O keeps Swift's overflow and bounds traps, which is what we hunt);
# no AddressSanitizer: the code under test is Swift, and its C (OpenSSL for the
# simulators' ciphers) is not what posd ships.
swift build -c release --build-path "$build" --product posd-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DPOSD_LIBFUZZER -Xswiftc -use-ld=lld
fuzz="$build/release/posd-fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <("$fuzz" list | cut -f1); fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out"
failed=0
for target in "${targets[@]}"; do
    corpus="$scratch/$target"
    mkdir -p "$corpus"
    cp Tests/Fixtures/fuzz/"$target"/* "$corpus"/
    log="$scratch/$target.log"
    if "$fuzz" fuzz "$target" -max_total_time="$seconds" -print_final_stats=1 -max_len=512 \
        -artifact_prefix="$out/$target-" "$corpus" > "$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed=1
        grep -E "invariant broken|ERROR|SUMMARY|Test unit written" "$log" | head -5 || true
    fi
    runs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}')
    coverage=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1)
    printf 'fuzz %-16s %-6s %10s executions in %s s, %s, corpus %s files\n' \
        "$target" "$status" "${runs:-?}" "$seconds" "${coverage:-no coverage line}" "$(ls "$corpus" | wc -l)"
done
exit $failed
