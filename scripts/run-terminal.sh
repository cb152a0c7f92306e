#!/usr/bin/env bash
# Brings up the simulated terminal on a fresh Debian 12 machine with the Swift
# toolchain: Debian packages, pcscd with vpcd, the simulated PSAM (vpcd slot 1)
# and test card (slot 0), the reference clearing platform on loopback; then a
# purchase, an online load, a balance query, delivery to the platform, the
# day's settlement and a journal check.
#   scripts/run-terminal.sh [amount-in-fen] [card1|card2]
source "$(dirname "$0")/common.sh"
cd "$ROOT"
AMOUNT="${1:-250}"
CARD="${2:-card1}"
TERMINAL_ID=112233445566   # the test PSAM's terminal number
PORT="${CLEARING_PORT:-18080}"

install_packages
echo "== building"
swift build
BIN="$(swift build --show-bin-path)"
start_pcscd
wait_for_readers "$BIN/posd"

SIM="$RUN_DIR/sim"
DATA="$RUN_DIR/data"
mkdir -p "$SIM" "$DATA"
[ -f "$SIM/psam.json" ] || "$BIN/vcard" personalise psam --out "$SIM/psam.json"
[ -f "$SIM/$CARD.json" ] || "$BIN/vcard" personalise "$CARD" --out "$SIM/$CARD.json"
"$BIN/vcard" serve psam --state "$SIM/psam.json" --slot 1 --control "$SIM/psam.sock" &
STARTED_PIDS+=($!)
"$BIN/vcard" serve card --state "$SIM/$CARD.json" --slot 0 --control "$SIM/card.sock" &
STARTED_PIDS+=($!)

# The terminal's token: readable by posd alone. The platform keeps its SHA-256.
TOKEN="$DATA/clearing.token"
[ -f "$TOKEN" ] || (umask 077 && head -c 24 /dev/urandom | base64 > "$TOKEN")
echo "== clearing platform on http://127.0.0.1:$PORT (database run/clearing.sqlite)"
"$BIN/clearing-platform" --db "$RUN_DIR/clearing.sqlite" --port "$PORT" --enroll "$TERMINAL_ID:$TOKEN" >"$RUN_DIR/clearing.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^listening on' "$RUN_DIR/clearing.log" && break; sleep 0.1; done
CLEARING=(--clearing-url "http://127.0.0.1:$PORT" --terminal-id "$TERMINAL_ID" --token-file "$TOKEN" --data-dir "$DATA")

echo "== posd sync (parameters, hot list)"
"$BIN/posd" sync "${CLEARING[@]}" || true
echo "== posd purchase --amount $AMOUNT"
status=0
"$BIN/posd" purchase --amount "$AMOUNT" --data-dir "$DATA" || status=$?
echo "== posd load --amount 1000 --pin 123456"
"$BIN/posd" load --amount 1000 --pin 123456 "${CLEARING[@]}" || true
echo "== posd balance"
"$BIN/posd" balance || true
echo "== posd settle (delivers every record, then closes the day)"
"$BIN/posd" settle "${CLEARING[@]}" || true
echo "== posd journal verify"
"$BIN/posd" journal verify --data-dir "$DATA" || true
echo "== card state: $SIM/$CARD.json, PSAM state: $SIM/psam.json, journal: $DATA (delete run/ to start afresh)"
exit "$status"
