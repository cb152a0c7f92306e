#!/usr/bin/env python3
"""Builds chain.json: a journal chain computed with Python's json and hashlib
alone, independent of the Swift code, as the clearing platform would.

Canonical bytes: the record without "hash", keys sorted, no whitespace.
hash = SHA-256(raw bytes of prev_hash || canonical bytes), upper-case hex.
Run: python3 make_chain.py > chain.json
"""
import hashlib
import json

contents = [
    {"kind": "purchase", "time": "20261122140305", "card_no": "8888000000000001", "amount": 250,
     "balance_before": 10000, "card_counter": 5, "terminal_seq": 257, "tx_type": 6, "key_version": 1,
     "alg_id": 0, "tac": "CF7A5750"},
    {"kind": "declined", "time": "20261122140310", "card_no": "8888000000000002", "amount": 0,
     "balance_before": 0, "card_counter": 0, "reason": "insufficient_balance"},
    {"kind": "capp_purchase", "time": "20261122141000", "card_no": "8888000000000002", "amount": 0,
     "balance_before": 5000, "card_counter": 18, "terminal_seq": 300, "tx_type": 9, "key_version": 1,
     "alg_id": 4, "tac": "0A0B0C0D"},
    {"kind": "load", "time": "20261122150000", "card_no": "8888000000000001", "amount": 5000,
     "balance_before": 9750, "card_counter": 2, "tx_type": 2, "key_version": 1, "alg_id": 0,
     "tac": "11223344", "recovered": True},
    {"kind": "card_blocked", "time": "20261122151500", "card_no": "8888000000000003", "amount": 0,
     "balance_before": 1200, "card_counter": 0, "reason": "blocked_temporary"},
]

chain = []
prev = "0" * 64
for seq, content in enumerate(contents, start=1):
    record = dict(content, seq=seq, prev_hash=prev)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(bytes.fromhex(prev) + canonical).hexdigest().upper()
    chain.append({"content": content, "seq": seq, "prev_hash": prev, "canonical": canonical.decode("utf-8"), "hash": digest})
    prev = digest

print(json.dumps(chain, indent=1))
