"""The demo chat page in a real headless browser (Playwright driving Debian's Chromium), in both
authorizer modes; the page keeps the token out of the URL (Sec-WebSocket-Protocol)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import REPO, make_stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

@pytest.fixture(scope="module", params=["hs256", "oidc"])
def demo_stack(request, dynamodb_endpoint):
    s = make_stack(dynamodb_endpoint, auth_mode=request.param)
    yield s
    s.stop()


def open_page(browser, stack, user: str, transport: str = "subprotocol"):
    page = browser.new_page()
    page.goto(stack.demo_url)
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#user", user)
    page.select_option("#transport", transport)
    page.click("#connect")
    page.wait_for_selector("#status[data-state=open]", timeout=15_000)
    return page


def test_demo_page_chats_in_a_room_directly_and_shows_history(browser, demo_stack):
    stack = demo_stack
    alice = open_page(browser, stack, "web_alice")
    bob = open_page(browser, stack, "web_bob", transport="query")
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


def test_the_browser_sends_the_token_as_a_subprotocol_and_accepts_the_selected_wschat(browser, demo_stack):
    # GIVEN the page connecting with its default: the token in Sec-WebSocket-Protocol
    page = open_page(browser, demo_stack, "web_carol")
    # THEN the browser accepted the handshake with `wschat` selected
    assert page.get_attribute("#status", "data-subprotocol") == "wschat"
    page.close()
    # (the authorizer ran before the handshake completed, so it is recorded by now)
    [authorizer] = [i for i in list(demo_stack.invocations)
                    if i.function == "authorizer" and (i.result or {}).get("principalId") == "web_carol"]
    # AND the token never was in the URL: the gateway got it in the header
    assert "token" not in (authorizer.event["queryStringParameters"] or {})
    assert authorizer.event["headers"]["Sec-WebSocket-Protocol"].startswith("wschat, bearer.")
