#!/usr/bin/env python3
"""`make smoke ENV=dev` (or `WSS_URL=...`): after an apply, two real clients chat through the deployed API.

    python tools/smoke.py                          # ENV=dev: terraform outputs + tfvars + the secret in SSM
    ENV=prod python tools/smoke.py
    JWT_SECRET=... python tools/smoke.py --wss-url ws://127.0.0.1:8080/dev \\
        --connections-table wschat-dev-connections  # any stack, the local one included

Steps, in order (the first that fails is named, and the run stops there):
  inputs          the URLs, the connections table, the region and the JWT secret (ENV: from
                  `terraform output`, terraform/envs/<env>.tfvars and the SSM parameter it names)
  connect         two WebSocket clients, each with a token minted with the deployed secret
  registry        each client's connectionId, from the connections table's byUser index
  ping            a two-way route answers
  direct message  A -> B: A gets the ack, B gets the message exactly once, nobody else gets it
  room message    both join a fresh room; A -> room: B gets it exactly once, A does not
  history         B reads both conversations back: the two messages, from A, with their text
  $default        an unknown action gets the UNKNOWN_ACTION error frame naming the valid actions
  GetConnection   the management endpoint (SigV4 with the caller's AWS credentials) describes B
  DeleteConnection  the management endpoint closes B: B's socket closes, then B is gone (410)

Settings come from the flags or from the environment variables named in --help; `make smoke` passes
its command-line variables on as environment variables, so no value is pasted into a shell command.
Secrets and tokens are never printed. Exit status: 0 passed, 1 a step failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "shared", ROOT / "tools"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench.fleet import Client, Fleet  # noqa: E402
from chat import protocol  # noqa: E402
from chat.config import Settings  # noqa: E402
from chat.messaging import direct_conversation, room_conversation  # noqa: E402
from chat.models import Connection  # noqa: E402
from manifest import load_manifest  # noqa: E402

FAILED, BAD_INPUT = 1, 2
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
BY_USER_INDEX = Connection.by_user.Meta.index_name
POLL_S = 0.25


class BadInput(Exception):
    """The smoke cannot start: a setting is missing or wrong (the message says which and how to fix it)."""


class StepFailed(Exception):
    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step, self.message = step, message


@dataclass(frozen=True)
class Target:
    """Everything the smoke needs to reach one deployed (or local) stack."""

    label: str
    wss_url: str
    management_endpoint: str
    connections_table: str
    region: str
    secret: str = field(repr=False)
    claims: dict[str, str] = field(default_factory=dict)


# ---- inputs --------------------------------------------------------------------------------------

def environments() -> list[str]:
    return sorted(p.stem for p in (ROOT / "terraform" / "envs").glob("*.tfvars"))


def check_ws_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise BadInput(f"WSS_URL must be ws[s]://<host>[:port]/<stage>, got {url!r}")
    if parts.query or parts.fragment:
        raise BadInput(f"WSS_URL must not carry a query string or fragment (the token is added here): {url!r}")
    if not parts.path.strip("/"):
        raise BadInput(f"WSS_URL has no stage path (ws[s]://<host>/<stage>): {url!r}")
    return url.rstrip("/")


def management_endpoint_for(ws_url: str) -> str:
    """The @connections endpoint on the same host and stage (AWS's default domain, the local stack).
    A custom domain needs MANAGEMENT_ENDPOINT: the management API lives only on execute-api."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}{parts.path}"


def region_of(ws_url: str) -> str | None:
    found = EXECUTE_API_HOST.match(urlsplit(ws_url).hostname or "")
    return found.group("region") if found else None


def deployed_outputs(env: str, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> dict[str, Any]:
    """`terraform output -json` of ENV through tools/tf.py (which refuses another environment's state)."""
    cmd = [sys.executable, str(ROOT / "tools" / "tf.py"), "--env", env, "outputs", "--json"]
    done = run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        said = [line for line in (done.stderr or "").splitlines() if line.strip() and not line.startswith("+ ")]
        raise BadInput(f"no outputs for ENV={env}: {said[-1] if said else f'tools/tf.py exit {done.returncode}'}")
    try:
        values = {name: out["value"] for name, out in json.loads(done.stdout).items()}
    except (ValueError, TypeError, KeyError) as e:
        raise BadInput(f"no outputs for ENV={env}: `terraform output -json` printed no JSON object ({e})") from None
    missing = [name for name in ("websocket_url", "management_endpoint", "table_names") if not values.get(name)]
    if missing:
        raise BadInput(f"no outputs for ENV={env} (missing {', '.join(missing)}): has ENV={env} been applied? "
                       f"Run `make plan ENV={env}` and `make apply ENV={env}` first")
    return values


def ssm_secret(name: str, region: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return boto3.client("ssm", region_name=region).get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise BadInput(f"missing secret: SSM parameter {name!r} does not exist in {region} (create it once: "
                           f"aws ssm put-parameter --type SecureString --name {name} --value ...)") from None
        raise BadInput(f"cannot read the JWT secret {name!r} in {region}: {code or e}") from None
    except NoCredentialsError:
        raise BadInput("no AWS credentials: the JWT secret lives in SSM (configure credentials, or give "
                       "JWT_SECRET with WSS_URL)") from None
    except BotoCoreError as e:
        raise BadInput(f"cannot read the JWT secret {name!r} in {region}: {e}") from None


def target_from_env(env: str, outputs: Callable[[str], dict[str, Any]] = deployed_outputs,
                    secret_of: Callable[[str, str], str] = ssm_secret) -> Target:
    if env not in environments():
        raise BadInput(f"no terraform/envs/{env}.tfvars (environments: {', '.join(environments())})")
    from tf_e2e import read_tfvars

    tfvars = read_tfvars(ROOT / "terraform" / "envs" / f"{env}.tfvars")
    for name in ("region", "jwt_secret_parameter"):
        if not tfvars.get(name):
            raise BadInput(f"terraform/envs/{env}.tfvars sets no {name}")
    values = outputs(env)
    table = (values["table_names"] or {}).get("connections")
    if not table:
        raise BadInput(f"the outputs of ENV={env} name no connections table (table_names.connections)")
    claims = {claim: tfvars[var] for claim, var in (("iss", "jwt_issuer"), ("aud", "jwt_audience")) if tfvars.get(var)}
    return Target(label=f"ENV={env}", wss_url=check_ws_url(values["websocket_url"]),
                  management_endpoint=values["management_endpoint"], connections_table=table,
                  region=tfvars["region"], secret=secret_of(tfvars["jwt_secret_parameter"], tfvars["region"]),
                  claims=claims)


def target_from_url(args: argparse.Namespace, secret_of: Callable[[str, str], str] = ssm_secret) -> Target:
    url = check_ws_url(args.wss_url)
    region = args.region or region_of(url)
    if not region:
        raise BadInput("no region: set AWS_REGION (or --region); it signs the management calls and finds the table")
    if not args.connections_table:
        raise BadInput("CONNECTIONS_TABLE (or --connections-table) is needed with WSS_URL: the clients' "
                       "connectionIds are looked up in it for GetConnection/DeleteConnection")
    secret = os.environ.get("JWT_SECRET", "")
    if not secret and args.jwt_secret_parameter:
        secret = secret_of(args.jwt_secret_parameter, region)
    if not secret:
        raise BadInput("missing secret: set JWT_SECRET (the stack's HS256 secret) or JWT_SECRET_PARAMETER "
                       "(its SSM SecureString)")
    claims = {claim: value for claim, value in (("iss", args.jwt_issuer), ("aud", args.jwt_audience)) if value}
    management = (args.management_endpoint or management_endpoint_for(url)).rstrip("/")
    if urlsplit(management).scheme not in ("http", "https"):
        raise BadInput(f"MANAGEMENT_ENDPOINT must be an http(s):// URL, got {management!r}")
    return Target(label="WSS_URL", wss_url=url, management_endpoint=management, connections_table=args.connections_table,
                  region=region, secret=secret, claims=claims)


# ---- the run -------------------------------------------------------------------------------------

def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def handshake_failure(e: BaseException, url: str) -> str:
    from websockets.exceptions import InvalidStatus

    if isinstance(e, InvalidStatus):
        status = e.response.status_code
        why = {401: "no token reached the authorizer",
               403: "the token was refused: is it minted with the deployed JWT secret (and issuer/audience)?",
               404: "no such stage: check the URL's stage path",
               429: "throttled by the gateway"}.get(status, "")
        return f"handshake refused with HTTP {status}" + (f": {why}" if why else "")
    if isinstance(e, TimeoutError):
        return f"no answer from {url} in time"
    if isinstance(e, OSError):
        return f"cannot reach {url}: {e.strerror or e}"
    return f"{type(e).__name__}: {e}"


class Smoke:
    def __init__(self, target: Target, timeout: float, out: Callable[[str], None] = print):
        self.target, self.timeout, self.out = target, timeout, out
        self.run_id = secrets.token_hex(4)
        self.fleet = Fleet(target.wss_url, target.secret, claims=target.claims)
        self.passed: list[str] = []
        self._dynamodb: Any = None
        self._management: Any = None

    # clients are created on first use, never at import time
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            import boto3

            self._dynamodb = boto3.client("dynamodb", region_name=self.target.region)
        return self._dynamodb

    def management(self) -> Any:
        if self._management is None:
            import boto3
            from botocore.config import Config

            self._management = boto3.client(
                "apigatewaymanagementapi", endpoint_url=self.target.management_endpoint,
                region_name=self.target.region,
                config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10))
        return self._management

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except StepFailed:
            raise
        except AssertionError as e:
            raise StepFailed(name, str(e)) from e
        except TimeoutError as e:
            raise StepFailed(name, f"nothing arrived within {self.timeout:g} s") from e
        except Exception as e:  # noqa: BLE001 - any error of a step fails that step, by name
            raise StepFailed(name, f"{type(e).__name__}: {e}") from e
        self.passed.append(name)
        self.out(f"smoke: ok  {name} ({time.monotonic() - started:.2f} s)")

    async def request(self, client: Client, frame: dict[str, Any], expected_type: str) -> dict[str, Any]:
        """Send one frame, return the reply; an error frame (or another type) fails the step with its code."""
        await client.send(frame)
        _, reply = await client.reply(self.timeout)
        if reply.get("type") == "error":
            raise AssertionError(f"{frame['action']} answered {reply.get('code')}: {reply.get('message')}")
        expect(reply.get("type") == expected_type, f"{frame['action']} answered {reply!r}, not a {expected_type!r} frame")
        return reply

    async def delivered_once(self, ack: dict[str, Any], recipient: Client) -> str:
        """The ack names a message; it reaches ``recipient`` exactly once and no other client."""
        message_id = ack.get("messageId")
        expect(bool(message_id), f"the ack names no messageId: {ack!r}")
        expect((ack.get("delivery") or {}).get("failed", 0) == 0, f"the ack reports failed deliveries: {ack!r}")
        watch = self.fleet.watch(message_id, 1)
        await asyncio.wait_for(watch.done.wait(), self.timeout)
        got = self.fleet.delivery(message_id, [recipient])
        expect((got["received_once"], got["duplicates"], got["unintended"]) == (1, 0, 0),
               f"message {message_id}: expected exactly once to {recipient.user} and nobody else, got {got}")
        return str(message_id)

    def connection_id(self, user: str) -> str:
        """The user's only connectionId in the registry. The byUser index is eventually consistent, so it
        is polled until the row shows up or the step's time is up."""
        deadline = time.monotonic() + self.timeout
        while True:
            items = self.dynamodb().query(
                TableName=self.target.connections_table, IndexName=BY_USER_INDEX,
                KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": {"S": user}})["Items"]
            expect(len(items) <= 1, f"{user} has {len(items)} registry rows; a fresh smoke user must have one")
            if items:
                return str(items[0]["connectionId"]["S"])
            expect(time.monotonic() < deadline, f"no registry row for {user} in {self.target.connections_table} "
                                                f"after {self.timeout:g} s: did $connect register the connection?")
            time.sleep(POLL_S)

    def gone(self, connection_id: str) -> None:
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.management().get_connection(ConnectionId=connection_id)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code")
                expect(code == "GoneException", f"GetConnection after DeleteConnection answered {code}, not GoneException")
                return
            expect(time.monotonic() < deadline, "GetConnection still finds the deleted connection")
            time.sleep(POLL_S)

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self.fleet.close()

    async def _run(self) -> None:  # noqa: PLR0915 - one straight story, step after step
        run = self.run_id
        max_chars = Settings.max_text_chars
        with self.step("connect"):
            try:
                alice, bob = await asyncio.wait_for(
                    self.fleet.grow([None, None], concurrency=2, prefix=f"smoke-{run}-"), self.timeout * 2)
            except Exception as e:  # noqa: BLE001 - translated into what the operator should check
                raise StepFailed("connect", handshake_failure(e, self.target.wss_url)) from e

        with self.step("registry"):
            ids = {c.user: await asyncio.to_thread(self.connection_id, c.user) for c in (alice, bob)}
            expect(len(set(ids.values())) == 2, f"the two clients share a connectionId: {ids}")

        with self.step("ping"):
            protocol.parse_ping({"action": "ping"})
            await self.request(alice, {"action": "ping"}, "pong")

        with self.step("direct message"):
            direct = {"action": "sendMessage", "targetUserId": bob.user, "text": f"smoke direct {run}",
                      "clientMessageId": f"smoke-{run}-direct"}
            protocol.parse_send_message(direct, max_chars)  # the server's own parser accepts what is sent
            direct_id = await self.delivered_once(await self.request(alice, direct, "ack"), bob)

        with self.step("room message"):
            room = f"smoke-{run}"
            for client in (alice, bob):
                joined = await self.request(client, {"action": "joinRoom", "roomId": room}, "joined")
                expect(joined.get("roomId") == room, f"joined the wrong room: {joined!r}")
            said = {"action": "sendMessage", "roomId": room, "text": f"smoke room {run}",
                    "clientMessageId": f"smoke-{run}-room"}
            protocol.parse_send_message(said, max_chars)
            room_id = await self.delivered_once(await self.request(alice, said, "ack"), bob)

        with self.step("history"):
            for query, conversation, message_id, text in (
                    ({"roomId": room}, room_conversation(room), room_id, said["text"]),
                    ({"withUserId": alice.user}, direct_conversation(alice.user, bob.user), direct_id, direct["text"])):
                frame = {"action": "getHistory", **query, "limit": 10}
                protocol.parse_history_request(frame)
                page = await self.request(bob, frame, "history")
                expect(page.get("conversationId") == conversation, f"history of {conversation} answered {page!r}")
                found = [m for m in page.get("messages", []) if m.get("messageId") == message_id]
                expect(len(found) == 1, f"history of {conversation} does not hold message {message_id}")
                expect((found[0].get("from"), found[0].get("text")) == (alice.user, text),
                       f"history of {conversation} holds {found[0]!r}, not {alice.user}'s {text!r}")

        with self.step("$default"):
            unknown = {"action": f"smokeUnknown{run}"}
            await alice.send(unknown)
            _, error = await alice.reply(self.timeout)
            expect(error.get("type") == "error" and error.get("code") == "UNKNOWN_ACTION",
                   f"an unknown action answered {error!r}, not an UNKNOWN_ACTION error frame")
            actions = sorted(load_manifest(ROOT).client_actions)  # what Terraform and the emulator set
            expect(error.get("validActions") == actions,
                   f"the error frame names {error.get('validActions')!r}, not {actions!r}")

        with self.step("GetConnection"):
            described = await asyncio.to_thread(self.management().get_connection, ConnectionId=ids[bob.user])
            expect(bool(described.get("ConnectedAt")), f"GetConnection has no ConnectedAt: {described!r}")
            expect(bool((described.get("Identity") or {}).get("SourceIp")), "GetConnection has no Identity.SourceIp")

        with self.step("DeleteConnection"):
            await asyncio.to_thread(self.management().delete_connection, ConnectionId=ids[bob.user])
            assert bob.reader is not None
            await asyncio.wait_for(asyncio.shield(bob.reader), self.timeout)  # the reader ends when B is closed
            await asyncio.to_thread(self.gone, ids[bob.user])


# ---- command line --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=env("ENV") or "dev",
                        help="environment whose terraform outputs, tfvars and SSM secret to use (ENV; default dev)")
    parser.add_argument("--wss-url", default=env("WSS_URL"),
                        help="smoke this ws[s]://host/stage instead of ENV's outputs (WSS_URL)")
    parser.add_argument("--management-endpoint", default=env("MANAGEMENT_ENDPOINT"),
                        help="with WSS_URL: @connections endpoint (MANAGEMENT_ENDPOINT; default: the URL's host and "
                             "stage over http[s])")
    parser.add_argument("--connections-table", default=env("CONNECTIONS_TABLE"),
                        help="with WSS_URL: the connections table (CONNECTIONS_TABLE)")
    parser.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION"),
                        help="with WSS_URL: region (AWS_REGION; default: from an execute-api URL)")
    parser.add_argument("--jwt-secret-parameter", default=env("JWT_SECRET_PARAMETER"),
                        help="with WSS_URL: SSM SecureString holding the secret (JWT_SECRET_PARAMETER); or give "
                             "the secret itself in the JWT_SECRET environment variable (never as a flag)")
    parser.add_argument("--jwt-issuer", default=env("JWT_ISSUER"), help="with WSS_URL: `iss` claim (JWT_ISSUER)")
    parser.add_argument("--jwt-audience", default=env("JWT_AUDIENCE"), help="with WSS_URL: `aud` claim (JWT_AUDIENCE)")
    parser.add_argument("--timeout", type=float, default=float(env("SMOKE_TIMEOUT") or 30),
                        help="seconds each wait may take (SMOKE_TIMEOUT; default 30)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        target = target_from_url(args) if args.wss_url else target_from_env(args.env)
    except BadInput as e:
        print(f"smoke: FAILED at step 'inputs' (bad input): {e}", file=sys.stderr)
        return BAD_INPUT
    print(f"smoke: {target.label}: {target.wss_url} (management endpoint {target.management_endpoint}, "
          f"connections table {target.connections_table}, region {target.region})")
    smoke = Smoke(target, args.timeout)
    try:
        asyncio.run(smoke.run())
    except StepFailed as e:
        print(f"smoke: FAILED at step {e.step!r}: {e.message}", file=sys.stderr)
        return FAILED
    print(f"smoke: PASSED ({target.label}): {len(smoke.passed)} steps: {', '.join(smoke.passed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
