"""Why $connect must select a subprotocol: a real browser (Chromium) refuses a handshake that selects
none after it offered some, and the emulator passes $connect's answer through as API Gateway does."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import REPO, make_stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def stack_whose_connect_selects_no_subprotocol(dynamodb_endpoint, tmp_path_factory):
    """The same functions, except a $connect that forgets to answer with Sec-WebSocket-Protocol."""
    functions = tmp_path_factory.mktemp("functions")
    shutil.copytree(REPO / "functions", functions, dirs_exist_ok=True)
    handler = functions / "connect" / "handler.py"
    original = handler.read_text()
    patched = original.replace('return {"statusCode": 200, "headers": {SUBPROTOCOL_HEADER: subprotocol}}',
                               'return {"statusCode": 200}')
    assert patched != original, "functions/connect/handler.py changed: update this fixture"
    handler.write_text(patched)
    s = make_stack(dynamodb_endpoint, functions_dir=functions)
    yield s
    s.stop()


def test_a_browser_fails_the_handshake_when_connect_selects_no_subprotocol(browser,
                                                                          stack_whose_connect_selects_no_subprotocol):
    # GIVEN a $connect that accepts the connection but echoes no subprotocol (as on AWS, the gateway
    # selects none by itself) / WHEN a browser connects offering subprotocols
    stack = stack_whose_connect_selects_no_subprotocol
    page = browser.new_page()
    page.goto(stack.demo_url)
    page.wait_for_selector("body[data-ready=true]")
    token = stack.mint_token("web_dave")
    outcome = page.evaluate("""([url, token]) => new Promise((resolve) => {
        const ws = new WebSocket(url, ["wschat", "bearer." + token]);
        ws.onopen = () => resolve("open");
        ws.onclose = (e) => resolve("closed " + e.code);
    })""", [stack.ws_url, token])
    # THEN the browser refuses it (1006: the handshake failed), which is why $connect must select one
    assert outcome == "closed 1006"
    page.close()
