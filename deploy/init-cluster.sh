#!/usr/bin/env bash
# Creates what deploy/docker-compose.yml mounts: three wallets (a-c; and d for the 4-pod k8s StatefulSet) (Solana CLI format, mode 0600), the
# shared registry file listing them and the bootstrap file naming node-a (172.28.0.11).
# Usage: bash deploy/init-cluster.sh [OUT_DIR]   (default deploy/cluster; needs `npm run build`)
# BOOTSTRAP_IP / BOOTSTRAP_QUIC / BOOTSTRAP_TCP override node-a's address (local-cluster.sh uses 127.0.0.1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/cluster}"
cli="node $here/../dist/cli.js"
mkdir -p "$out/keys"
addresses=()
for n in a b c d; do
  if [ ! -f "$out/keys/$n.json" ]; then $cli keygen --out "$out/keys/$n.json" >/dev/null; fi
  addresses+=("$($cli id "$out/keys/$n.json" | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).address))')")
done
printf '["%s","%s","%s","%s"]\n' "${addresses[0]}" "${addresses[1]}" "${addresses[2]}" "${addresses[3]}" > "$out/registry.json"
printf '[{"publicKey":"%s","ip":"%s","quicPort":%s,"tcpPort":%s}]\n' "${addresses[0]}" "${BOOTSTRAP_IP:-172.28.0.11}" \
  "${BOOTSTRAP_QUIC:-4001}" "${BOOTSTRAP_TCP:-4002}" > "$out/bootstrap.json"
echo "wrote $out/keys/{a,b,c,d}.json, $out/registry.json, $out/bootstrap.json"
