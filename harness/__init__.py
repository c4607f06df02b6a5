"""The harness the benchmarks (bench/) and the load test (loadtest/) share, so both measure the same way:

- :mod:`harness.stack_process` starts the local stack in its own process (``harness.stack_server``)
  and accounts for its processes (RSS, CPU of the gateway, its function workers, DynamoDB Local);
- :mod:`harness.control` talks to the stack's local-only endpoints (tokens, faults, info);
- :mod:`harness.client` is the one Python WebSocket client of the chat protocol;
- :mod:`harness.stats` has the one percentile function; :mod:`harness.limits` the file-limit raiser;
- :mod:`harness.dynamodb_counter` counts the items each DynamoDB read returned (the bench's proxy).

Loopback only. Not shipped: the functions and the emulator never import it.
"""
