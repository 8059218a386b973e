#!/usr/bin/env bash
# Three depin-node daemons on this machine (loopback), as the compose file runs them in containers:
# one shared registry file, node a as bootstrap. Ctrl-C stops all three gracefully (SIGTERM each;
# setsid keeps the terminal's SIGINT from reaching them twice).
#   npm ci && npm run build && bash deploy/local-cluster.sh
#   curl localhost:9464/readyz ; curl -s localhost:9464/metrics | grep ^depin_
# Ports: node a 4001/udp 4002/tcp http 9464 inspect 9470; b 4011/4012 9465 9471; c 4021/4022 9466 9472.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${LOCAL_CLUSTER_DIR:-$here/cluster/local}"
[ -f "$here/../dist/cli.js" ] || (cd "$here/.." && npm run build)
BOOTSTRAP_IP=127.0.0.1 bash "$here/init-cluster.sh" "$dir"
pids=()
i=0
for n in a b c; do
  DEPIN_KEY_FILE="$dir/keys/$n.json" DEPIN_REGISTRY_FILE="$dir/registry.json" DEPIN_BOOTSTRAP_FILE="$dir/bootstrap.json" \
  DEPIN_LISTEN_HOST=127.0.0.1 DEPIN_QUIC_PORT=$((4001 + 10 * i)) DEPIN_TCP_PORT=$((4002 + 10 * i)) DEPIN_HTTP_PORT=$((9464 + i)) DEPIN_INSPECT_PORT=$((9470 + i)) DEPIN_DATA_DIR="$dir/data-$n" \
    setsid node "$here/../dist/cli.js" start --config "$here/config.yaml" 2> "$dir/$n.log" > "$dir/$n.out" &
  pids+=($!)
  i=$((i + 1))
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; echo stopped' INT TERM
echo "nodes running (logs and stdout in $dir); waiting for /readyz on all three..."
for port in 9464 9465 9466; do
  until curl -fs "localhost:$port/readyz" >/dev/null; do sleep 0.5; done
done
echo "all three ready: curl localhost:9464/metrics   (Ctrl-C to stop)"
wait
