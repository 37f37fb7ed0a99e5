"""The member page in each shipped language (issue 20): chosen from the browser's languages,
switched by the person and remembered on the device, mirrored in Arabic at phone size, and the
crisis check in Spanish offering the Spanish-speaking crisis services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import Pages, member_joins, open_room, screenshot, wait_keyed
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, REPO, RunningServer, free_port

CATALOGUES = REPO / "server" / "static" / "i18n"
LOCALES = {"en": "en-US", "es": "es-ES", "ar": "ar-EG"}

SAFETY = (
    "[safety]\n"
    'crisis_resources = [{ name = "Test Crisis Line", phone = "+1 555 0100", hours = "24/7" }]\n'
    'crisis_words = ["overdose"]\n'
    "[safety.crisis_resources_by_locale]\n"
    'es = [{ name = "Línea de Prueba", phone = "+34 900 000 100", hours = "24 horas" }]\n'
    '"es-MX" = [{ name = "Línea de Prueba México", phone = "+52 800 000 0100" }]\n'
    'ar = [{ name = "خط المساعدة التجريبي", phone = "+20 100 000 0100" }]\n'
    "[limits]\n"
    "message_burst = 500\n"
)


def text(locale: str, key: str) -> str:
    """A text of the catalogues: the console's, the first screen's, or later.js's (i18n/later/)."""
    folders = ["console"] if key.startswith("console.") else ["", "later"]
    texts: dict[str, Any] = {}
    for folder in folders:
        texts |= json.loads((CATALOGUES / folder / f"{locale}.json").read_text(encoding="utf-8"))
    value = texts[key]
    assert isinstance(value, str)
    return value


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), extra_config=SAFETY)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("language", list(LOCALES))
def test_the_member_page_speaks_the_browsers_language_accessibly(
    pages: Pages, language: str
) -> None:
    page = pages.open("/", locale=LOCALES[language])
    expect(page.locator("#welcome-title")).to_have_text(text(language, "member.welcome.title"))
    root = page.locator("html")
    expect(root).to_have_attribute("lang", LOCALES[language])
    expect(root).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    expect(page.locator("#quick-exit")).to_have_text(text(language, "member.quickExit.button"))
    expect(page.locator("#compose-text")).to_have_attribute(
        "placeholder", text(language, "member.compose.placeholder")
    )
    expect(page.locator("#language")).to_have_value(language)
    expect_accessible(page, f"welcome in {language}")
    page.click("#open-crisis")
    expect(page.locator("#crisis-title")).to_have_text(text(language, "member.crisis.title"))
    expected = {"en": "Test Crisis Line", "es": "Línea de Prueba", "ar": "خط المساعدة التجريبي"}
    expect(page.locator("#crisis-list")).to_contain_text(expected[language])
    expect_accessible(page, f"crisis resources in {language}")


@pytest.mark.parametrize("language", list(LOCALES))
def test_the_console_speaks_the_browsers_language_accessibly(pages: Pages, language: str) -> None:
    console = pages.open("/console.html", locale=LOCALES[language])
    expect(console.locator("#login-title")).to_have_text(text(language, "console.loginTitle"))
    expect(console.locator("html")).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    assert console.title() == text(language, "console.pageTitle")
    expect_accessible(console, f"console login in {language}")
    console.fill("#login-username", FACILITATOR)
    console.fill("#login-password", FACILITATOR_PASSWORD)
    console.click("#login-form button[type=submit]")
    expect(console.locator("#desk")).to_be_visible()
    expect(console.locator("#connection")).to_have_text(text(language, "common.connected"))
    expect(console.locator("#desk-title")).to_have_text(text(language, "member.home.title"))
    expect(console.locator("#create-panel summary")).to_have_text(
        text(language, "console.createAGroup")
    )
    expect_accessible(console, f"console desk in {language}")
    # the panels the facilitators' companion groups and the administrator brought
    expect(console.locator("#notes-title")).to_have_text(
        text(language, "console.handover.notesTitle")
    )
    expect(console.locator("#ask-send")).to_have_text(text(language, "console.handover.sendReply"))
    expect(console.locator("#admin-title")).to_have_text(text(language, "console.admin.title"))


@pytest.mark.parametrize("language", ["es", "ar"])
def test_moving_to_another_device_speaks_the_browsers_language(pages: Pages, language: str) -> None:
    """My data's devices section (loaded when it opens) and its refusals are in the language."""
    page = pages.open("/", locale=LOCALES[language])
    page.fill("#welcome-pseudonym", "Nube Azul")
    page.press("#welcome-pseudonym", "Enter")
    expect(page.locator("#home")).to_be_visible()
    page.click("#open-settings")
    expect(page.locator("#devices-title")).to_have_text(text(language, "member.devices.title"))
    expect(page.locator("#recovery-rules")).to_have_text(text(language, "member.devices.passRules"))
    page.fill("#recovery-pass", "short")
    page.fill("#recovery-pass-again", "short")
    page.click("#recovery-save-form button[type=submit]")
    expect(page.locator("#recovery-save-error")).to_have_text(
        text(language, "member.devices.tooShort")
    )
    page.fill("#link-code-input", "nope")
    page.click("#link-enter-form button[type=submit]")
    expect(page.locator("#link-error")).to_have_text(text(language, "member.devices.badCode"))
    expect_accessible(page, f"my data's devices in {language}")


def test_a_browser_in_mexico_sees_the_mexican_crisis_services(pages: Pages) -> None:
    page = pages.open("/", locale="es-MX")
    expect(page.locator("#welcome-title")).to_have_text(text("es", "member.welcome.title"))
    page.click("#open-crisis")
    expect(page.locator("#crisis-list")).to_have_text("Línea de Prueba México · +52 800 000 0100")


def test_the_switch_is_keyboard_usable_and_remembered_across_a_reload(pages: Pages) -> None:
    page = pages.open("/", locale="en-US")
    expect(page.locator("#welcome-title")).to_have_text("Welcome")
    switch = page.get_by_role("combobox", name="Language")
    # The page is shown once its texts and the switch are in place (i18n.js); a person can reach
    # it only then, and the switch is filled and listening by that time.
    expect(switch).to_be_visible()
    expect(switch).to_have_value("en")
    switch.focus()
    with page.expect_navigation():
        page.keyboard.press("ArrowDown")  # English -> Español, as a keyboard user changes it
    expect(page.locator("#welcome-title")).to_have_text(text("es", "member.welcome.title"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.reload()
    expect(page.locator("#welcome-title")).to_have_text(text("es", "member.welcome.title"))
    expect(page.get_by_role("combobox", name=text("es", "common.language"))).to_have_value("es")
    assert page.evaluate("localStorage.getItem('hearth.locale')") == "es"


def test_arabic_at_phone_size_is_mirrored_and_nothing_overflows(
    pages: Pages, tmp_path: Path
) -> None:
    _, invite = open_room(pages, "Mixed غرفة room")
    page = member_joins(pages, invite, "Sara سارة", width=390, height=844, locale="ar-EG")
    wait_keyed(page)
    page.fill("#compose-text", "مرحبا everyone, hello")
    page.keyboard.press("Enter")
    expect(page.locator("#messages .message .text")).to_have_text("مرحبا everyone, hello")
    shot = tmp_path / "arabic-phone.png"
    screenshot(page, shot)

    width = 390
    back = page.locator("#back").bounding_box()
    title = page.locator("#chat-title").bounding_box()
    assert back is not None
    assert title is not None
    # Mirrored: the back button starts the heading row on the right, the title follows to its
    # left, and the arrow points right (back, in a right-to-left reading).
    assert back["x"] + back["width"] > width * 0.8, back
    assert title["x"] < back["x"], (title, back)
    arrow = page.evaluate("getComputedStyle(document.querySelector('#back .back-arrow')).transform")
    assert arrow.startswith("matrix(-1"), arrow
    # My own message sits on the left side in RTL (margin-inline-start: auto).
    mine = page.locator("#messages .message.mine").bounding_box()
    assert mine is not None
    assert mine["x"] < width / 2, mine
    overflow = page.evaluate(
        """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
            [...document.querySelectorAll('body *')].filter((n) => {
                const r = n.getBoundingClientRect();
                return r.width && (r.right > innerWidth + 1 || r.left < -1) && n.offsetParent
                    && !n.closest('.visually-hidden, .skip');
            }).map((n) => n.id || n.className)]"""
    )
    assert overflow[0] <= overflow[1], overflow
    assert overflow[2] == [], overflow
    # The names and messages are isolated: a name in another direction cannot reorder the row.
    assert page.locator("#messages .message bdi.who").count() >= 1
    assert page.locator("#messages .message .text[dir=auto]").count() >= 1
    expect_accessible(page, "Arabic chat at phone size")


def test_a_spanish_crisis_phrase_offers_the_spanish_crisis_services(pages: Pages) -> None:
    _, invite = open_room(pages, "Grupo de apoyo")
    page = member_joins(pages, invite, "Luna Clara", locale="es-ES")
    wait_keyed(page)
    expect(page.locator("#compose-send")).to_have_text(text("es", "member.compose.send"))
    page.fill("#compose-text", "Hoy ya no quiero vivir así, de verdad.")
    page.keyboard.press("Enter")
    dialog = page.locator("#crisis-check")
    expect(dialog).to_be_visible()
    expect(page.locator("#crisis-check-title")).to_have_text(text("es", "member.crisisCheck.title"))
    expect(page.locator("#crisis-check-list")).to_contain_text("Línea de Prueba")
    expect(page.locator("#crisis-check-list")).not_to_contain_text("Test Crisis Line")
    expect_accessible(page, "crisis check in Spanish")
    page.get_by_role("button", name=text("es", "member.crisisCheck.edit")).click()
    expect(dialog).to_be_hidden()
    assert page.input_value("#compose-text") == "Hoy ya no quiero vivir así, de verdad."
    assert page.locator("#messages .message").count() == 0  # nothing was sent
    # An everyday Spanish sentence with the same words does not trigger it.
    page.fill("#compose-text", "Me corto el pelo mañana y luego quiero vivir en la playa.")
    page.keyboard.press("Enter")
    expect(page.locator("#messages .message")).to_have_count(1)
    expect(dialog).to_be_hidden()


def test_the_crisis_check_reads_each_languages_phrases(pages: Pages) -> None:
    page = pages.open("/", locale="ar-EG")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    found: Any = page.evaluate(
        """async () => {
            const { loadCrisisCheck } = await import('/js/crisischeck.js');
            const ar = await loadCrisisCheck([], 'ar');
            const es = await loadCrisisCheck([], 'es');
            const replaced = await loadCrisisCheck([], 'es', { es: 'nube* negra', en: '' });
            return [
                ar.match('أريد أن أموت'), ar.match('لا أُرِيدُ أن أعيش بعد الآن'),
                ar.match('قتلني الضحك اليوم'), ar.match('I want to die'),
                es.match('Quiero quitarme la vida'), es.match('Me voy a cortar las venas'),
                es.match('mi madre me va a matar si llego tarde'),
                replaced.match('una nube negra'), replaced.match('quiero morir'),
            ];
        }"""
    )
    assert None not in (found[0], found[1], found[3]), found  # Arabic, harakat, and English too
    assert found[2] is None  # "laughter killed me": an idiom
    assert None not in (found[4], found[5]), found
    assert found[6] is None  # "my mother will kill me": not about the self
    assert found[7] == "nube* negra"  # the organisation's list replaces the shipped one
    assert found[8] is None


def test_an_english_console_flags_a_spanish_crisis_message(pages: Pages) -> None:
    console, invite = open_room(pages, "Grupo mixto")
    member = member_joins(pages, invite, "Sol Tranquilo", locale="es-ES")
    wait_keyed(member)
    member.fill("#compose-text", "Ya no quiero vivir, lo siento.")
    member.keyboard.press("Enter")
    expect(member.locator("#crisis-check")).to_be_visible()
    member.get_by_role("button", name=text("es", "member.crisisCheck.send")).click()
    expect(member.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    # The console is in English; the member's Spanish is still checked, on the console's device.
    expect(console.locator("#attention-items")).to_contain_text("Possible crisis in Grupo mixto")
