# Shared set-up for scripts/run-terminal.sh and scripts/test.sh (sourced, not run).
# Installs the Debian packages, starts pcscd (with the vpcd driver) if none is
# running, and stops by PID everything it started when the calling script ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/run"
mkdir -p "$RUN_DIR"
STARTED_PIDS=()

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_started EXIT

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

install_packages() {
  local packages=(pcscd vsmartcard-vpcd libpcsclite-dev libgpiod-dev libsqlite3-dev libssl-dev pkg-config strace)
  local installed
  installed=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null | grep -c '^ii' || true)
  if [ "$installed" -ne "${#packages[@]}" ]; then
    echo "== installing Debian packages: ${packages[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
}

# The machine has no systemd to start pcscd; start our own unless one runs.
# One pcscd per machine: tests share it and use vpcd slots 0 and 1 in turn.
start_pcscd() {
  # (A pcscd in a private mount namespace, scripts/soak.sh's or a test's,
  # shows in pgrep but not its socket here: it does not count.)
  if [ -S /run/pcscd/pcscd.comm ] && pgrep -x pcscd >/dev/null; then
    echo "== using the running pcscd"
    return
  fi
  echo "== starting pcscd (log: run/pcscd.log)"
  $SUDO pcscd --foreground >"$RUN_DIR/pcscd.log" 2>&1 &
  STARTED_PIDS+=($!)
}

# Waits (bounded) until pcscd lists both vpcd readers.
wait_for_readers() {
  local posd="$1" i
  for i in $(seq 1 100); do
    if [ "$("$posd" readers 2>/dev/null | grep -c '^Virtual PCD 00 0[01]$')" -eq 2 ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "pcscd did not offer the vpcd readers (see run/pcscd.log)" >&2
  return 1
}

# The test card and PSAM personalised into DIR and served on vpcd slots 0 and
# 1 until the calling script ends; extra arguments go to the card's `serve`
# (`--absent`: outside the field until `insert`).
serve_simulators() {
  local vcard="$1" dir="$2"
  shift 2
  "$vcard" personalise card1 --out "$dir/card.json"
  "$vcard" personalise psam --out "$dir/psam.json"
  "$vcard" serve psam --state "$dir/psam.json" --slot 1 >/dev/null &
  STARTED_PIDS+=($!)
  "$vcard" serve card --state "$dir/card.json" --slot 0 "$@" >/dev/null &
  STARTED_PIDS+=($!)
}
