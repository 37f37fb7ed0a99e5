"""Generate ``hearth-devices-v1.json``: vectors of the device link and the recovery file
(docs/protocol.md §15), for the browser's linkcrypto.js / recoveryfile.js and other
implementations.

Run from the repository root: ``.venv/bin/python tests/vectors/generate_device_vectors.py``.
Every input is fixed: ``fixed(name, n)`` is the first ``n`` bytes of SHA-256("hearth-v1 vector "
‖ name), repeated as needed. Both constructions are deterministic given them. Binary values are
lowercase hex.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from crypto import devicelink, recovery  # noqa: E402

OUT = Path(__file__).resolve().parent / "hearth-devices-v1.json"


def fixed(name: str, n: int) -> bytes:
    seed = hashlib.sha256(b"hearth-v1 vector " + name.encode()).digest()
    return (seed * (n // 32 + 1))[:n]


def link_vector(name: str, code: str, wrong: str | None = None) -> dict[str, Any]:
    ya, yb = fixed(f"{name} ya", 32), fixed(f"{name} yb", 32)
    code_b = wrong or code
    share_a = devicelink.share(code, ya)
    share_b = devicelink.share(code_b, yb)
    keys_a = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    keys_b = devicelink.derive(code_b, yb, share_a, share_b, own=share_b)
    chunk = b"a chunk of the bundle"
    nonce = fixed(f"{name} nonce", 12)
    return {
        "name": name,
        "code": code,
        "code_b": code_b,
        "link_id": devicelink.link_id(code).hex(),
        "generator": devicelink.generator(code).hex(),
        "ya": ya.hex(),
        "yb": yb.hex(),
        "share_a": share_a.hex(),
        "share_b": share_b.hex(),
        "transcript": keys_a.transcript.hex(),
        "confirm_a": keys_a.confirm_a.hex(),
        "confirm_b": keys_a.confirm_b.hex(),
        "confirm_b_sent": keys_b.confirm_b.hex(),  # what B sends; equals confirm_b iff codes match
        "chunk": chunk.hex(),
        "chunk_nonce": nonce.hex(),
        "sealed_chunk_1_of_2": devicelink.seal_chunk(keys_a, 1, 2, chunk, nonce).hex(),
    }


def recovery_vector(name: str, passphrase: str, plaintext: bytes) -> dict[str, Any]:
    params = recovery.Argon2Params(memory_kib=19 * 1024, time_cost=2, parallelism=1)
    salt, nonce = fixed(f"{name} salt", 16), fixed(f"{name} nonce", 12)
    sealed = recovery.seal(passphrase, plaintext, params, salt=salt, nonce=nonce)
    return {
        "name": name,
        "passphrase": passphrase,
        "memory_kib": params.memory_kib,
        "time_cost": params.time_cost,
        "parallelism": params.parallelism,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "key": recovery.file_key(passphrase, salt, params).hex(),
        "plaintext": plaintext.hex(),
        "file": sealed.hex(),
    }


def main() -> None:
    vectors = {
        "elligator2": [
            {"r": str(r), "u": str(devicelink.elligator2(r))}
            for r in (0, 1, 2, 3, 12345, devicelink.P - 1, devicelink.P // 2, 2**254 + 7)
        ],
        "link": [
            link_vector("link matching", "7KQM-4XZP-9RTD"),
            link_vector("link lookalikes", "o1l1-ABCD-EFGH"),
            link_vector("link wrong code", "7KQM-4XZP-9RTD", wrong="7KQM-4XZP-9RTE"),
        ],
        "recovery": [
            recovery_vector("recovery ascii", "correct horse battery staple", b'{"v":1}'),
            # NFKC: the fullwidth letters and the composed é seal to the same key as plain ones
            recovery_vector(
                "recovery unicode", "ｃａｆｅ\u0301 au lait, s'il vous plaît", fixed("pt", 100)
            ),
        ],
    }
    OUT.write_text(json.dumps(vectors, indent=1) + "\n")


if __name__ == "__main__":
    main()
