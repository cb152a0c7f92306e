#!/usr/bin/env bash
# Brings up the simulated terminal on a fresh Debian 12 machine with the Swift
# toolchain: Debian packages, pcscd with vpcd, the simulated PSAM (vpcd slot 1)
# and test card (slot 0), then one purchase, a balance query and a journal check.
#   scripts/run-terminal.sh [amount-in-fen] [card1|card2]
source "$(dirname "$0")/common.sh"
cd "$ROOT"
AMOUNT="${1:-250}"
CARD="${2:-card1}"

install_packages
echo "== building"
swift build
BIN="$(swift build --show-bin-path)"
start_pcscd
wait_for_readers "$BIN/posd"

SIM="$RUN_DIR/sim"
mkdir -p "$SIM"
[ -f "$SIM/psam.json" ] || "$BIN/vcard" personalise psam --out "$SIM/psam.json"
[ -f "$SIM/$CARD.json" ] || "$BIN/vcard" personalise "$CARD" --out "$SIM/$CARD.json"
"$BIN/vcard" serve psam --state "$SIM/psam.json" --slot 1 --control "$SIM/psam.sock" &
STARTED_PIDS+=($!)
"$BIN/vcard" serve card --state "$SIM/$CARD.json" --slot 0 --control "$SIM/card.sock" &
STARTED_PIDS+=($!)

echo "== posd purchase --amount $AMOUNT"
status=0
"$BIN/posd" purchase --amount "$AMOUNT" --data-dir "$RUN_DIR/data" || status=$?
echo "== posd balance"
"$BIN/posd" balance || true
echo "== posd journal verify"
"$BIN/posd" journal verify --data-dir "$RUN_DIR/data" || true
echo "== card state: $SIM/$CARD.json, PSAM state: $SIM/psam.json (delete them to start afresh)"
exit "$status"
