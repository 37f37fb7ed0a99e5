"""Moving to a new device and a second device (issue 20, docs/protocol.md §15), in Chromium: a
member links a second browser context with the code and both post and read; a member saves a
recovery file, loses the first context, opens the file in a new one, reads the history and
posts; a wrong code, a wrong passphrase, a tampered file and a file that is not one are refused
with clear messages and change nothing. axe-core, keyboard and phone size on the new screens."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import Pages, expect_message, keyed_member, open_room, send, wait_keyed

PHONE = {"width": 390, "height": 844}


def fresh_device(pages: Pages) -> Any:
    """A browser that never saw Hearth: it picks a name on the welcome screen, opens My data."""
    page = pages.open("/", **PHONE)
    expect(page.locator("#welcome")).to_be_visible()
    page.fill("#welcome-pseudonym", "New Phone")
    page.press("#welcome-pseudonym", "Enter")
    expect(page.locator("#home")).to_be_visible()
    page.click("#open-settings")
    expect(page.locator("#devices-title")).to_be_visible()
    return page


def open_my_data(page: Any) -> None:
    page.click("#open-settings")
    expect(page.locator("#devices-title")).to_be_visible()


def show_code(page: Any) -> str:
    page.click("#link-show")
    expect(page.locator("#link-code")).to_have_text(
        re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
    )
    return str(page.text_content("#link-code"))


def enter_code(page: Any, code: str) -> None:
    # by keyboard: focus the field, type, Enter submits
    page.focus("#link-code-input")
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def open_group(page: Any, name: str) -> None:
    expect(page.locator("#home")).to_be_visible()
    page.locator(".group-link", has_text=name).click()
    wait_keyed(page)


def account_key(page: Any) -> str:
    return str(
        page.evaluate(
            """async () => {
              const store = await import('/js/keystore.js');
              const hc = await import('/js/crypto.js');
              return hc.hex((await store.account()).publicKey);
            }"""
        )
    )


def fits_the_screen(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def group_keys(page: Any) -> int:
    return int(
        page.evaluate("""async () => (await (await import('/js/keystore.js')).groups()).length""")
    )


def extractable_keys(page: Any) -> list[str]:
    """Every CryptoKey this device keeps that a script could export (none may be)."""
    return list(
        page.evaluate(
            """async () => {
              const store = await import('/js/keystore.js');
              const found = [];
              const check = (name, key) => {
                if (!(key instanceof CryptoKey)) found.push(name + ' missing');
                else if (key.extractable) found.push(name);
              };
              check('account', (await store.account()).privateKey);
              check('vault', await store.get('vault'));
              for (const r of await store.groups()) {
                check('signing', r.member.signing.privateKey);
                check('kem', r.member.kem.privateKey);
                if (r.member.pq) check('pq', r.member.pq.privateKey);
                for (const [n, e] of Object.entries(r.epochs)) check('epoch ' + n, e.secret);
              }
              return found;
            }"""
        )
    )


def test_a_second_device_linked_with_the_code_posts_and_reads(pages: Pages) -> None:
    console, invite = open_room(pages, "Linked room")
    first = keyed_member(pages, invite, "Two Devices")
    send(first, "said before the second device")
    expect_message(first, "said before the second device")

    second = fresh_device(pages)
    expect_accessible(second, "My data with devices (new device)")
    open_my_data(first)
    code = show_code(first)
    expect(first.locator("#link-status")).to_contain_text("within")
    expect_accessible(first, "My data showing a link code")
    enter_code(second, code.lower().replace("-", " "))  # forgiving: case and spaces
    expect(first.locator("#link-status")).to_contain_text("now has your groups")

    # the second device started again as the member, with the group and its history
    open_group(second, "Linked room")
    expect_message(second, "said before the second device")
    send(second, "from the second device")
    first.click("#settings-close")
    expect_message(first, "from the second device")
    send(first, "from the first device")
    expect_message(second, "from the first device")
    expect_message(second, "from the second device")
    # keys are non-extractable on both devices; only their vault-sealed seeds can move
    assert group_keys(second) == 1
    assert extractable_keys(second) == []
    assert extractable_keys(first) == []
    assert pages.errors == []
    console.close()


def test_a_wrong_code_is_refused_on_both_devices_and_changes_nothing(pages: Pages) -> None:
    _, invite = open_room(pages, "Guarded room")
    first = keyed_member(pages, invite, "Careful One")
    second = fresh_device(pages)
    before = account_key(second)
    open_my_data(first)

    code = show_code(first)
    last = code[-1]
    wrong = code[:-1] + ("0" if last != "0" else "1")  # same slot: the PAKE itself refuses it
    enter_code(second, wrong)
    expect(second.locator("#link-error")).to_contain_text("did not match")
    expect(second.locator("#link-error")).to_contain_text("unchanged")
    expect(first.locator("#link-error")).to_contain_text("wrong code. Nothing was sent")
    assert group_keys(second) == 0

    # the used code cannot be tried again; a code nobody shows is named as such
    second.fill("#link-code-input", "")
    enter_code(second, code)
    expect(second.locator("#link-error")).to_contain_text("No device is showing this code")
    second.fill("#link-code-input", "")
    enter_code(second, "too short")
    expect(second.locator("#link-error")).to_contain_text("12 letters and digits")
    assert group_keys(second) == 0
    assert account_key(second) == before
    assert fits_the_screen(second)
    expect_accessible(second, "My data with a refused code")

    # a device that has groups of its own does not take another's
    enter_code(first, "ABCD-EFGH-JKMN")
    expect(first.locator("#link-error")).to_contain_text("already holds groups")

    # the first device is as it was: it still reads and posts
    first.click("#settings-close")
    send(first, "still here")
    expect_message(first, "still here")


def test_a_recovery_file_moves_the_member_to_a_new_device(pages: Pages, tmp_path: Path) -> None:
    _, invite = open_room(pages, "Recovered room")
    witness = keyed_member(pages, invite, "Witness")
    lost = keyed_member(pages, invite, "Will Recover", **PHONE)
    send(lost, "said before the phone was lost")
    expect_message(witness, "said before the phone was lost")

    open_my_data(lost)
    lost.fill("#recovery-pass", "short one")
    lost.fill("#recovery-pass-again", "short one")
    lost.click("#recovery-save-form button[type=submit]")
    expect(lost.locator("#recovery-save-error")).to_contain_text("at least 15 characters")
    lost.fill("#recovery-pass", "aaaaaaaaaaaaaaaaaaaa")
    lost.fill("#recovery-pass-again", "aaaaaaaaaaaaaaaaaaaa")
    lost.click("#recovery-save-form button[type=submit]")
    expect(lost.locator("#recovery-save-error")).to_contain_text("repeats itself")
    passphrase = "lantern orchard velvet harbour quietly"
    lost.fill("#recovery-pass", passphrase)
    lost.fill("#recovery-pass-again", passphrase)
    with lost.expect_download(timeout=60_000) as download:
        lost.press("#recovery-pass-again", "Enter")
    path = tmp_path / "hearth-recovery.hrcv"
    download.value.save_as(path)
    expect(lost.locator("#recovery-save-status")).to_contain_text("ready")
    expect_accessible(lost, "My data after saving a recovery file")
    data = path.read_bytes()
    assert data[:4] == b"HRCV"
    assert b"Recovered room" not in data
    assert b"Will Recover" not in data

    # the phone is lost: its browser data is gone
    lost.evaluate("async () => (await import('/js/keystore.js')).wipe()")
    lost.context.close()

    fresh = fresh_device(pages)
    before = account_key(fresh)
    tampered = bytearray(data)
    tampered[-20] ^= 0x01
    (tmp_path / "tampered.hrcv").write_bytes(bytes(tampered))
    (tmp_path / "notes.txt").write_bytes(b"just some notes, not a recovery file at all" * 3)
    cases = [
        ("notes.txt", passphrase, "not a Hearth recovery file"),
        ("hearth-recovery.hrcv", passphrase + " ", "does not open the file"),
        ("tampered.hrcv", passphrase, "does not open the file"),
    ]
    for name, typed, message in cases:
        fresh.set_input_files("#recovery-file", str(tmp_path / name))
        fresh.fill("#recovery-open-pass", typed)
        fresh.press("#recovery-open-pass", "Enter")
        expect(fresh.locator("#recovery-open-error")).to_contain_text(message, timeout=60_000)
        expect(fresh.locator("#recovery-open-error")).to_contain_text("Nothing was changed")
        assert group_keys(fresh) == 0
        assert account_key(fresh) == before
    assert fits_the_screen(fresh)
    expect_accessible(fresh, "My data with a refused recovery file")

    fresh.set_input_files("#recovery-file", str(path))
    fresh.fill("#recovery-open-pass", passphrase)
    fresh.press("#recovery-open-pass", "Enter")
    # argon2id (64 MiB, t = 3) on a loaded test machine may take a while; then the page restarts
    expect(fresh.locator("#home")).to_be_visible(timeout=60_000)
    open_group(fresh, "Recovered room")
    expect_message(fresh, "said before the phone was lost")
    send(fresh, "back on a new phone")
    expect_message(witness, "back on a new phone")


def refuse_link_events(ws: Any) -> None:
    """A server whose bus is down: every link event is answered `unavailable` (§15.3)."""
    server = ws.connect_to_server()

    def to_server(frame: str | bytes) -> None:
        found = re.match(r'^42(\d+)\["link\.', frame) if isinstance(frame, str) else None
        if found:
            error = {
                "code": "unavailable",
                "message": "the cluster bus is down",
                "retry_after_ms": 5000,
            }
            ws.send(f"43{found.group(1)}" + json.dumps([{"ok": False, "error": error}]))
            return
        server.send(frame)

    ws.on_message(to_server)
    server.on_message(ws.send)


def test_a_server_that_cannot_link_now_says_so_and_not_that_the_page_is_offline(
    pages: Pages,
) -> None:
    _, invite = open_room(pages, "Busy room")
    page = keyed_member(pages, invite, "Busy Bee", socket=refuse_link_events)
    open_my_data(page)
    page.click("#link-show")
    expect(page.locator("#link-error")).to_contain_text("cannot link devices just now")
    expect(page.locator("#link-code-box")).to_be_hidden()
