#!/usr/bin/env bash
# Throughput of `dd3d queue`: assets per hour with 1 worker and with 2 workers (one per core),
# and their ratio, on this machine (docs/scale-out.md reports the numbers). Starts its own
# redis-server on a free loopback port, adds N assets of examples/chair-tiny.json with
# models/dd3d-tiny (the model the documented figures were measured on) at ITERS iterations
# (defaults otherwise: 32×32 renders, 48 samples per ray, mesh 128³), runs the workers until
# every asset is done, and times it from the first worker's start to the last asset. Measure on an idle machine: anything else on the cores
# lowers both numbers, and the ratio.
#
#   npx tsc -p tsconfig.json && examples/queue-throughput.sh            # N=8 ITERS=60: ~10 min
#   N=4 ITERS=20 examples/queue-throughput.sh                          # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8}
ITERS=${ITERS:-60}
command -v redis-server >/dev/null || { echo "queue-throughput: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
dd3d() { node dist/src/cli.js "$@"; }

work=$(mktemp -d)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url="redis://127.0.0.1:$port"
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
worker_pids=()
cleanup() {
  for p in "${worker_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  kill "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done

done_count() { dd3d queue status --redis "$url" --queue "$1" --json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).counts.done))"; }

# assets/hour with $1 worker processes of one asset thread each (as on $1 one-core machines), into $rate
measure() {
  local workers=$1 queue="throughput-$1" out="$work/out-$1"
  dd3d queue add --queue "$queue" --redis "$url" --dist examples/chair-tiny.json --n "$N" --iters "$ITERS" --preview-every 0 --out "$out" 2>>"$work/add.log" ||
    { cat "$work/add.log" >&2; exit 1; }
  local start end
  start=$(date +%s.%N)
  for _ in $(seq "$workers"); do
    # node itself in the background (not the dd3d function, whose subshell would get the signal)
    node dist/src/cli.js queue worker --queue "$queue" --redis "$url" --model models/dd3d-tiny --concurrency 1 2>>"$work/worker-$workers.log" &
    worker_pids+=($!)
  done
  until [ "$(done_count "$queue")" = "$N" ]; do sleep 1; done
  end=$(date +%s.%N)
  # SIGTERM: a background job ignores SIGINT
  kill -TERM "${worker_pids[@]}"
  wait "${worker_pids[@]}" || true
  worker_pids=()
  rate=$(node -e "console.log((3600*$N/($end-$start)).toFixed(1))")
}

echo "queue-throughput: $N assets of examples/chair-tiny.json, --iters $ITERS, models/dd3d-tiny, $(nproc) cores" >&2
measure 1
one=$rate
echo "1 worker:  $one assets/hour"
measure 2
two=$rate
echo "2 workers: $two assets/hour"
node -e "console.log('ratio:     ' + ($two/$one).toFixed(2))"
