"""Logging out of the console on a shared computer: the facilitator's groups do not stay
readable in that browser (server/static/js/console.js, keystore.js)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import Pages, create_group, facilitator_logs_in, wait_until

# Everything in this origin's IndexedDB "hearth" store, read by key: what any script of a later
# user of this browser profile could find.
STORED_KEYS = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("hearth", 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const keys = await new Promise((resolve, reject) => {
    const request = db.transaction("kv").objectStore("kv").getAllKeys();
    request.onsuccess = () => resolve(request.result.map(String));
    request.onerror = () => reject(request.error);
  });
  db.close();
  return keys;
}"""

GROUP_EPOCHS = """async (key) => {
  const store = await import("/js/keystore.js");
  const record = await store.get(key);
  return record ? Object.keys(record.epochs || {}).length : null;
}"""


def group_keys(page: Any) -> list[str]:
    return [k for k in page.evaluate(STORED_KEYS) if k.startswith("group:")]


def test_logout_can_remove_the_facilitators_group_keys_from_this_browser(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Shared computer")
    # the group and its hand-over notes (made when the group is first opened: handover.js)
    wait_until(console, lambda: len(group_keys(console)) == 2, "the notes' keys are held")
    held = group_keys(console)
    assert all(console.evaluate(GROUP_EPOCHS, key) == 1 for key in held)  # epoch 1's secret

    console.click("#logout")
    dialog = console.locator("#logout-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("shared or public computer")
    expect(console.locator("#logout-groups")).to_have_text("1 group")
    console.click("#logout-wipe")
    expect(console.locator("#login")).to_be_visible()
    expect(console.locator("#connection")).to_contain_text("keys for your groups were removed")

    assert group_keys(console) == []
    assert all(console.evaluate(GROUP_EPOCHS, key) is None for key in held)
    # After a reload too (nothing was only hidden from this page).
    console.reload()
    expect(console.locator("#login")).to_be_visible()
    assert group_keys(console) == []


def test_cancelling_the_logout_keeps_the_session_and_the_keys(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "My own computer")
    held = group_keys(console)
    console.click("#logout")
    console.locator("#logout-dialog").get_by_role("button", name="Cancel").click()
    expect(console.locator("#connection")).to_have_text("Connected")
    expect(console.locator("#login")).to_be_hidden()
    console.click("#logout")
    console.click("#logout-keep")
    expect(console.locator("#login")).to_be_visible()
    assert set(held) <= set(group_keys(console))
