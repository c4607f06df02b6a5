"""The demo chat page in a real headless browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    result = subprocess.run(["bash", str(REPO / "tools" / "install_chromium.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        message = f"BROWSER TESTS SKIPPED: Chromium cannot be installed here:\n{result.stderr}"
        print("\n" + "!" * 80 + "\n" + message + "\n" + "!" * 80, file=sys.stderr)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, stack, user: str):
    page = browser.new_page()
    page.goto(stack.demo_url)
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#user", user)
    page.click("#connect")
    page.wait_for_selector("#status[data-state=open]", timeout=15_000)
    return page


def test_demo_page_chats_in_a_room_directly_and_shows_history(browser, stack):
    alice = open_page(browser, stack, "web_alice")
    bob = open_page(browser, stack, "web_bob")
    for page in (alice, bob):
        page.fill("#room", "web-room")
        page.click("#join")
        page.wait_for_selector("#rooms:has-text('web-room')", timeout=15_000)

    alice.fill("#text", "hello from the browser")
    alice.click("#send-room")
    bob.wait_for_selector("#messages li:has-text('hello from the browser')", timeout=15_000)
    alice.wait_for_selector("#messages li:has-text('hello from the browser')", timeout=15_000)  # own, on ack

    alice.fill("#target", "web_bob")
    alice.fill("#text", "just for bob")
    alice.click("#send-direct")
    bob.wait_for_selector("#messages li:has-text('just for bob')", timeout=15_000)

    bob.click("#history-room")
    bob.wait_for_selector("#history li:has-text('hello from the browser')", timeout=15_000)
    bob.screenshot(path=str(REPO / "build" / "demo-page.png")) if (REPO / "build").is_dir() else None
    for page in (alice, bob):
        page.close()
