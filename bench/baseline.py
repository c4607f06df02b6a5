"""THE SEED DESIGN - NOT SHIPPED. A faithful re-implementation of the seed article's broadcast,
kept only as the benchmark's baseline (nothing in shared/ or functions/ imports it).

The seed Lambda Scans the whole connections table (here: every page; the seed did not even
paginate) and calls PostToConnection once per row, sequentially, with a stock boto3 client. A
Lambda that reaches its timeout is killed: the posts it had not made yet are dropped, and nobody
is told which ones. ``seed_broadcast`` reproduces that with a simulated deadline (29 s by default,
the API Gateway integration timeout): at the deadline it stops and reports how many it skipped.
Room audiences use a Scan FilterExpression on ``rooms``: the Scan still reads every row.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LAMBDA_TIMEOUT_S = 29.0


@dataclass
class SeedReport:
    intended: int = 0  # rows the Scan selected (minus the sender)
    posted: int = 0  # PostToConnection calls that returned 200
    gone: int = 0
    failed: int = 0
    dropped_at_timeout: int = 0  # never attempted: the invocation was killed
    timed_out: bool = False
    scanned_count: int = 0  # items the Scan read (cost)
    scan_pages: int = 0
    scan_s: float = 0.0
    post_s: float = 0.0  # time spent posting
    total_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_broadcast(*, dynamodb_endpoint: str, table: str, management_url: str, region: str, data: bytes,
                   room: str | None = None, sender_user: str | None = None,
                   timeout_s: float = LAMBDA_TIMEOUT_S) -> SeedReport:
    started = time.monotonic()
    deadline = started + timeout_s
    report = SeedReport()
    creds = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": region}
    ddb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, **creds)
    api = boto3.client("apigatewaymanagementapi", endpoint_url=management_url, **creds,
                       config=Config(connect_timeout=2, read_timeout=5))
    scan: dict[str, Any] = {"TableName": table, "ProjectionExpression": "connectionId, userId"}
    if room is not None:
        scan.update(FilterExpression="contains(rooms, :room)", ExpressionAttributeValues={":room": {"S": room}})
    targets: list[str] = []
    for _ in range(100_000):  # bounded: one iteration per 1 MB Scan page
        page = ddb.scan(**scan)
        report.scan_pages += 1
        report.scanned_count += int(page.get("ScannedCount", 0))
        targets += [item["connectionId"]["S"] for item in page.get("Items", [])
                    if item.get("userId", {}).get("S") != sender_user]
        if "LastEvaluatedKey" not in page or time.monotonic() >= deadline:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    report.intended = len(targets)
    report.scan_s = time.monotonic() - started
    posting = time.monotonic()
    for i, connection_id in enumerate(targets):
        if time.monotonic() >= deadline:  # Lambda kills the invocation here: the tail is lost silently
            report.timed_out = True
            report.dropped_at_timeout = len(targets) - i
            break
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=data)
            report.posted += 1
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "GoneException":
                report.gone += 1
            else:
                report.failed += 1
    report.post_s = time.monotonic() - posting
    report.total_s = time.monotonic() - started
    return report
