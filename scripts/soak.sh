#!/usr/bin/env bash
# posd run's resident memory and descriptors over many validator taps
# (Tools/Benchmarks/soak-bench), with the release binaries as flashed:
#
#   scripts/soak.sh [soak-bench options]      e.g. --taps 10000 (the default)
#
# At pcscd's pace (it polls a reader every 400 ms: about 0.8 s a tap) 10 000
# taps take a little over two hours, so the run has a pcscd of its own: in
# private mount and PID namespaces (its socket on a tmpfs over /run/pcscd),
# its vpcd on ports of its own (SOAK_VPCD_PORT, default 39963 and 39964), so
# the test command and the shared pcscd can be used beside it. Everything it
# starts ends with the namespace. Needs root, as the test command does.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
install_packages
echo "== building posd, posd-tech and soak-bench (release, static Swift runtime, as flashed)"
for product in posd posd-tech soak-bench; do  # (one --product a call: swift build keeps only the last)
  swift build -c release --static-swift-stdlib --product "$product"
done
bin=$(swift build -c release --show-bin-path)
port=${SOAK_VPCD_PORT:-39963}
scratch=$(mktemp -d)
trap 'stop_started; rm -rf "$scratch"' EXIT
channel=$(printf '0x%X' "$port")
cat > "$scratch/reader.conf" <<CONF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:$channel
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    $channel
CONF

# The namespace's first process is this inner script: when it ends, so does everything in it.
unshare --mount --pid --fork --mount-proc --propagation private \
  bash -s "$bin" "$scratch" "$port" "$@" <<'INNER'
set -euo pipefail
bin=$1 scratch=$2 port=$3
shift 3
mkdir -p /run/pcscd
mount -t tmpfs tmpfs /run/pcscd
pcscd --foreground --config "$scratch/reader.conf" >"$scratch/pcscd.log" 2>&1 &
for _ in $(seq 1 100); do
  [ "$("$bin/posd" readers 2>/dev/null | grep -c '^Virtual PCD 00 0[01]$')" -eq 2 ] && break
  sleep 0.1
done
"$bin/soak-bench" --vpcd-port "$port" --binaries "$bin" "$@"
INNER
