"""Benchmarks of the WebSocket chat backend (issue 6): ``python -m bench`` / ``make bench``.

They are not timed tests: one run on the machine at hand prints a table, writes
``build/bench/results.json`` and draws ``build/bench/bench.png``. Every figure is measured in that
run; nothing is hard-coded. Sections (``--sections``, default all):

``fanout``    broadcast fan-out of our design (gateway -> broadcast function -> paginated Queries
              -> bounded-concurrency posts, hand-off to ``fanout``) vs the *seed design*
              (:mod:`bench.baseline`, NOT SHIPPED: Scan + sequential PostToConnection) with 20 ms
              injected per post, counted on the client side by messageId (once and only once).
``cold``      per function: fresh-interpreter import time vs ``import boto3``, first invocation
              with clients created, zip and layer sizes (tools/build.py).
``emulator``  echo/ack round trip with 10 clients (msg/s, p50/p99), broadcast all-received
              latency with 1k/5k/10k connected clients, RSS with 10k idle connections.
``offline``   warm round trip of the same handler under serverless-offline vs the emulator.

The local stack runs in its own process (:mod:`bench.stack_server`) so its RSS and CPU are its
own; the clients (10,001 in the full run) run in this process on 127.0.0.1 only. ``--quick``
uses small N (``make bench-quick``). See docs/benchmarks.md for the results and the machine.
"""
