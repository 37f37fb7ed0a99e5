"""Micro-benchmark of Hearth's crypto core, each figure beside a bare-primitive baseline.

Run: ``.venv/bin/python bench/crypto_bench.py [--quick]``. Reports median and p90 in µs over
repeated runs (time.perf_counter). Numbers inform; no test asserts on them.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.commits import EpochCommit, build_commit, open_commit, verify_commit
from crypto.envelopes import open_message, seal_message, verify_envelope
from crypto.keys import MemberKeys
from crypto.suite import HPKE_SUITE, LABEL_MSG_SIG


def measure(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and p90 in µs of ``runs`` timed calls, after a few warm-up calls."""
    for _ in range(3):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))]


def row(name: str, figures: tuple[float, float], baseline: tuple[float, float]) -> str:
    ratio = figures[0] / baseline[0]
    return (
        f"{name:<42} {figures[0]:>10.1f} {figures[1]:>10.1f}"
        f" {baseline[0]:>10.1f} {baseline[1]:>10.1f} {ratio:>9.1f}x"
    )


def message_row(size: int, runs: int) -> str:
    sender = MemberKeys.generate()
    group_id, secret, content = os.urandom(16), os.urandom(32), b"a" * size

    def seal_and_open() -> None:
        envelope = seal_message(
            epoch_secret=secret,
            group_id=group_id,
            epoch=1,
            sender=sender,
            msg_id=os.urandom(16),
            content=content,
        )
        open_message(envelope, epoch_secret=secret, sender_sig_pk=sender.signing.public)

    aead, nonce = AESGCM(os.urandom(16)), os.urandom(12)

    def raw_aead() -> None:
        aead.decrypt(nonce, aead.encrypt(nonce, content, b""), b"")

    label = f"seal+open {size} B (vs AESGCM enc+dec)"
    return row(label, measure(seal_and_open, runs), measure(raw_aead, runs))


def verify_row(size: int, runs: int) -> str:
    """The relay's check of each message's signature against OpenSSL's Ed25519 (pyca)."""
    sender = MemberKeys.generate()
    envelope = seal_message(
        epoch_secret=os.urandom(32),
        group_id=os.urandom(16),
        epoch=1,
        sender=sender,
        msg_id=os.urandom(16),
        content=b"a" * size,
    )
    signed = LABEL_MSG_SIG + envelope.header.encode() + envelope.ciphertext
    openssl = sender.signing.key.public_key()

    def openssl_verify() -> None:
        openssl.verify(envelope.signature, signed)

    label = f"envelope verify {size} B (vs OpenSSL Ed25519)"
    return row(
        label,
        measure(lambda: verify_envelope(envelope, sender.signing.public), runs),
        measure(openssl_verify, runs),
    )


def commit_rows(size: int, runs: int) -> list[str]:
    members = [MemberKeys.generate() for _ in range(size)]
    roster = [m.entry for m in members]
    group_id, prev = os.urandom(16), os.urandom(32)

    def build() -> object:
        return build_commit(
            group_id=group_id, epoch=2, prev_commit_hash=prev, committer=members[0], roster=roster
        )

    commit, _ = build_commit(
        group_id=group_id, epoch=2, prev_commit_hash=prev, committer=members[0], roster=roster
    )
    publics = [X25519PrivateKey.generate().public_key() for _ in range(size)]

    def bare_seals() -> None:
        for public in publics:
            HPKE_SUITE.encrypt(bytes(32), public, b"info")

    build_runs = max(3, runs // max(1, size // 10))
    baseline = measure(bare_seals, build_runs)
    return [
        row(f"commit build, {size} (vs {size} HPKE seals)", measure(build, build_runs), baseline),
        row(f"commit verify, {size}", measure(lambda: verify_commit(commit), runs), baseline),
        row(
            f"commit open (1 member), {size}",
            measure(lambda: open_commit(commit, members[-1]), runs),
            baseline,
        ),
    ]


def suite_row(size: int, runs: int) -> str:
    """One roster size: commit build and open (one member) in suite 1 beside the hybrid suite 2,
    built from the same members, and each commit's size on the wire."""
    members = [MemberKeys.generate() for _ in range(size)]
    roster = [m.entry for m in members]
    group_id, prev = os.urandom(16), os.urandom(32)
    pq_keys = {m.member_id: m.pq_key(group_id) for m in members}

    def build(hybrid: bool) -> EpochCommit:
        commit, _ = build_commit(
            group_id=group_id,
            epoch=2,
            prev_commit_hash=prev,
            committer=members[0],
            roster=roster,
            pq_keys=pq_keys if hybrid else None,
        )
        return commit

    build_runs = max(3, runs // max(1, size // 10))
    cells = []
    for hybrid in (False, True):
        commit = build(hybrid)
        built = measure(lambda hybrid=hybrid: build(hybrid), build_runs)[0] / 1000
        opened = measure(lambda commit=commit: open_commit(commit, members[-1]), build_runs)[0]
        cells.append((built, opened / 1000, len(commit.raw) / 1000))
    (b1, o1, z1), (b2, o2, z2) = cells
    return (
        f"{size:>7} {b1:>10.2f} {b2:>10.2f} {b2 / b1:>6.1f}x {o1:>10.2f} {o2:>10.2f}"
        f" {o2 / o1:>6.1f}x {z1:>9.1f} {z2:>9.1f}"
    )


def main(quick: bool) -> None:
    """Print the table; ``quick`` runs few iterations (a smoke test)."""
    runs = 20 if quick else 300
    print(f"Hearth crypto bench ({'quick' if quick else 'full'}: {runs} runs per figure, µs)")
    columns = ("median", "p90", "base med", "base p90", "ratio")
    header = f"{'operation':<42}" + "".join(f" {c:>10}" for c in columns)
    print(header)
    print("-" * len(header))
    for size in (400, 4096):
        print(message_row(size, runs))
        print(verify_row(size, runs))
    for size in (10, 50, 200):
        print("\n".join(commit_rows(size, runs)))
    print()
    print("Commits by suite: 1 (X25519 HPKE wraps) beside 2 (X25519 + ML-KEM-768 hybrid wraps)")
    header = (
        f"{'members':>7} {'build 1 ms':>10} {'build 2 ms':>10} {'ratio':>7} {'open 1 ms':>10}"
        f" {'open 2 ms':>10} {'ratio':>7} {'size 1 kB':>9} {'size 2 kB':>9}"
    )
    print(header)
    print("-" * len(header))
    for size in (10, 50, 200):
        print(suite_row(size, runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations")
    main(parser.parse_args().quick)
