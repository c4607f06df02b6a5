#!/usr/bin/env python3
"""Renders the per-function IAM table of docs/terraform.md from manifest.json.

    python tools/iam_table.py           # print the table
    python tools/iam_table.py --write   # refresh it in docs/terraform.md (between the markers)

tests/terraform checks that the docs hold exactly this rendering, so the table cannot drift from
the manifest that Terraform builds the policies from.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/iam_table.py`
from manifest import Manifest, load_manifest  # noqa: E402

DOCS = ROOT / "docs" / "terraform.md"
START, END = "<!-- iam-table:start -->", "<!-- iam-table:end -->"


def render(manifest: Manifest) -> str:
    functions = manifest.functions
    async_targets = {target for fn in functions.values() for target in fn.permissions.invoke}
    lines = [
        "| function | memory / timeout | DynamoDB (table ARN, + listed index ARNs) | ManageConnections"
        " (`<execution_arn>/<stage>/<METHOD>/@connections/*`) | lambda:InvokeFunction | other |",
        "|---|---|---|---|---|---|",
    ]
    for name, fn in functions.items():
        perms = fn.permissions
        grants = []
        for grant in perms.dynamodb:
            indexes = grant.indexes
            where = f"`{grant.table}`" + (f" (+ index {', '.join(f'`{i}`' for i in indexes)})" if indexes else "")
            grants.append(f"{where}: {', '.join(a.split(':', 1)[1] for a in grant.actions)}")
        other = []
        if perms.jwt_secret:
            other.append("hs256 mode: `ssm:GetParameter` on the JWT secret parameter; `kms:Decrypt` via SSM if"
                         " `jwt_secret_kms_key_arn`. oidc mode: nothing (the provider's JWKS is public HTTPS)")
        if perms.dynamodb:
            other.append("`kms:Decrypt`, `kms:GenerateDataKey` on `kms_key_arn` via DynamoDB, if set")
        if name in async_targets:
            other.append("`sqs:SendMessage` on its own on-failure queue")
        lines.append(
            f"| `{name}` | {fn.memory} MB / {fn.timeout:g} s | {'<br>'.join(grants) or '—'}"
            f" | {', '.join(perms.manage_connections) or '—'} | {', '.join(perms.invoke) or '—'}"
            f" | {'; '.join(other) or '—'} |"
        )
    return "\n".join(lines)


def docs_table(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    table = render(load_manifest(ROOT))
    if "--write" in args:
        text = DOCS.read_text()
        head, rest = text.split(START, 1)
        DOCS.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}")
        print(f"updated the IAM table in {DOCS.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
