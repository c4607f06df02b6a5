"""Secrets come from configuration (SSM on AWS, env locally), never from code (issue 7, security).

The code that ships (shared/, functions/) holds no secret-looking literal and no JWT; the JWT secret is
read only through chat.config / chat.auth (env JWT_SECRET or the SSM parameter JWT_SECRET_PARAMETER).
The emulator's documented local-only development secret lives in emulator/ and never ships."""

import ast
import re

import pytest

from .conftest import ROOT

SHIPPED = sorted([*(ROOT / "shared" / "chat").glob("*.py"), *(ROOT / "functions").glob("*/*.py")])
JWT_LITERAL = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
SECRET_NAME = re.compile(r"(secret|password|passwd|api_?key|private_?key|token)$", re.IGNORECASE)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_code_assigns_no_secret_literal_and_embeds_no_jwt(path):
    source = path.read_text()
    assert not JWT_LITERAL.search(source), "a JWT literal in shipped code"
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str) and len(value.value) >= 8):
            continue
        for target in targets:
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
            assert not SECRET_NAME.search(name), f"{name} = {value.value[:4]}... looks like a secret in code"


def test_the_jwt_secret_is_read_only_from_configuration():
    readers = [p.relative_to(ROOT).as_posix() for p in SHIPPED if "jwt_secret" in p.read_text()]
    # clients.py only clears auth.jwt_secret's cache in reset()
    assert set(readers) <= {"shared/chat/auth.py", "shared/chat/config.py", "shared/chat/clients.py",
                            "functions/authorizer/handler.py"}
    dev_secret = "local-dev-secret-not-for-production"
    assert not [p for p in SHIPPED if dev_secret in p.read_text()], "the emulator's dev secret leaked into shipped code"


def test_terraform_never_sets_the_secret_itself_only_where_to_find_it():
    tf = "\n".join(p.read_text() for p in (ROOT / "terraform").rglob("*.tf"))
    assert re.search(r"\bJWT_SECRET_PARAMETER\b", tf)
    assert not re.search(r"\bJWT_SECRET\s*=", tf)
