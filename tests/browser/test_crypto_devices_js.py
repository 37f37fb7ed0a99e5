"""The page's linkcrypto.js and recoveryfile.js against hearth-devices-v1.json and against
crypto/devicelink.py and crypto/recovery.py, in headless Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from crypto import devicelink, recovery

pytestmark = pytest.mark.browser

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "hearth-devices-v1.json").read_text()
)


@pytest.fixture(scope="module")
def page(crypto_page: Any) -> Any:
    crypto_page.evaluate(
        """async () => {
          window.lc = await import('/js/linkcrypto.js');
          window.rf = await import('/js/recoveryfile.js');
        }"""
    )
    return crypto_page


def js(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(
        "async (arg) => { const hc = window.hc, lc = window.lc, rf = window.rf;"
        " const H = (s) => hc.unhex(s), X = (b) => hc.hex(b); " + body + " }",
        arg,
    )


def test_elligator2_agrees(page: Any) -> None:
    got = js(
        page, "return arg.map((v) => lc.elligator2(BigInt(v.r)).toString());", VECTORS["elligator2"]
    )
    assert got == [v["u"] for v in VECTORS["elligator2"]]


@pytest.mark.parametrize("vector", VECTORS["link"], ids=lambda v: v["name"])
def test_link_vectors(page: Any, vector: dict[str, str]) -> None:
    got = js(
        page,
        """
        const v = arg;
        const ya = await lc.importScalar(H(v.ya)), yb = await lc.importScalar(H(v.yb));
        const a = await lc.share(v.code, ya), b = await lc.share(v.code_b, yb);
        const ka = await lc.derive(v.code, ya, a, b, a);
        const kb = await lc.derive(v.code_b, yb, a, b, b);
        const sealed = await lc.sealChunk(ka, 1, 2, H(v.chunk), H(v.chunk_nonce));
        let opened = null;
        try { opened = X(await lc.openChunk(kb, 1, 2, sealed)); } catch (e) { opened = e.name; }
        return {
          link_id: X(await lc.linkId(v.code)), generator: X(await lc.generator(v.code)),
          share_a: X(a), share_b: X(b), transcript: X(ka.transcript),
          confirm_a: X(ka.confirmA), confirm_b: X(ka.confirmB), confirm_b_sent: X(kb.confirmB),
          sealed: X(sealed), opened,
        };
        """,
        vector,
    )
    for field in ("link_id", "generator", "share_a", "share_b", "transcript", "confirm_a"):
        assert got[field] == vector[field], field
    assert got["confirm_b"] == vector["confirm_b"]
    assert got["confirm_b_sent"] == vector["confirm_b_sent"]
    assert got["sealed"] == vector["sealed_chunk_1_of_2"]
    matches = vector["code"] == vector["code_b"]
    assert got["opened"] == (vector["chunk"] if matches else "VerificationFailed")


def test_a_browser_link_completes_with_a_python_peer(page: Any) -> None:
    """The old device in Python, the new one in the page, each with a fresh scalar."""
    code = devicelink.new_code()
    ya = os.urandom(32)
    share_a = devicelink.share(code, ya)
    got = js(
        page,
        """
        const y = await lc.importScalar();
        const a = H(arg.a), b = await lc.share(arg.code, y);
        window.linkKeys = await lc.derive(arg.code, y, a, b, b);
        return { b: X(b), confirmB: X(window.linkKeys.confirmB) };
        """,
        {"code": code, "a": share_a.hex()},
    )
    share_b = bytes.fromhex(got["b"])
    keys_a = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    devicelink.check_tag(keys_a.confirm_b, bytes.fromhex(got["confirmB"]))
    sealed = devicelink.seal_chunk(keys_a, 0, 1, b"the bundle", os.urandom(12))
    got = js(
        page,
        """
        const k = window.linkKeys;
        return { confirmA: X(k.confirmA),
                 opened: new TextDecoder().decode(await lc.openChunk(k, 0, 1, H(arg.sealed))) };
        """,
        {"sealed": sealed.hex()},
    )
    assert got["confirmA"] == keys_a.confirm_a.hex()
    assert got["opened"] == "the bundle"


def test_codes_normalise_like_python(page: Any) -> None:
    samples = ["7kqm 4xzp 9rtd", "o1l1-ABCD-EFGH", "ABCD-EFGH-JKMU", "short", "ABCD-EFGH-JKMNP"]
    got = js(page, "return arg.map((t) => lc.normaliseCode(t));", samples)
    expected = []
    for text in samples:
        try:
            expected.append(devicelink.normalise_code(text))
        except ValueError:
            expected.append(None)
    assert got == expected
    fresh = js(page, "return Array.from({length: 20}, () => lc.newCode());")
    assert all(devicelink.normalise_code(c) for c in fresh)


@pytest.mark.parametrize("vector", VECTORS["recovery"], ids=lambda v: v["name"])
def test_recovery_vectors(page: Any, vector: dict[str, Any]) -> None:
    got = js(
        page,
        """
        const v = arg;
        const params = {
          memoryKib: v.memory_kib, timeCost: v.time_cost, parallelism: v.parallelism };
        const fixed = { salt: H(v.salt), nonce: H(v.nonce) };
        const sealed = await rf.seal(v.passphrase, H(v.plaintext), params, fixed);
        return { file: X(sealed), opened: X(await rf.open(v.passphrase, H(v.file))) };
        """,
        vector,
    )
    assert got["file"] == vector["file"]
    assert got["opened"] == vector["plaintext"]


def test_a_browser_file_opens_in_python_and_back(page: Any) -> None:
    params = recovery.Argon2Params(memory_kib=recovery.MIN_MEMORY_KIB, time_cost=1)
    from_python = recovery.seal("a passphrase both sides know", b"from python", params)
    got = js(
        page,
        """
        const params = { memoryKib: 19456, timeCost: 1, parallelism: 1 };
        const sealed = await rf.seal(arg.pw, new TextEncoder().encode("from the page"), params);
        const opened = new TextDecoder().decode(await rf.open(arg.pw, H(arg.file)));
        let wrong = null, tampered = null, junk = null;
        try { await rf.open(arg.pw + "!", H(arg.file)); } catch (e) { wrong = e.name; }
        const t = H(arg.file); t[t.length - 1] ^= 1;
        try { await rf.open(arg.pw, t); } catch (e) { tampered = e.name; }
        try { await rf.open(arg.pw, new Uint8Array(80)); } catch (e) { junk = e.constructor.name; }
        return { sealed: X(sealed), opened, wrong, tampered, junk };
        """,
        {"pw": "a passphrase both sides know", "file": from_python.hex()},
    )
    assert got["opened"] == "from python"
    assert recovery.open_file("a passphrase both sides know", bytes.fromhex(got["sealed"])) == (
        b"from the page"
    )
    assert got["wrong"] == got["tampered"] == "VerificationFailed"
    assert got["junk"] == "NotARecoveryFile"
