#!/usr/bin/env bash
# bench/cache.sh: the response cache of issue 19. A cache hit against a
# respond host of the same binary, on the same machine, in the same run,
# on 127.0.0.1 only.
#
#   bench/cache.sh                       # from anywhere in the repository
#   ROUNDS=5 DURATION=10s CONNS=64 WORKERS=2 bench/cache.sh
#
# It builds the rockstar binary and bench/upstream (a small fasthttp server
# answering "Hello, World!"), and runs `rockstar run` with three hosts on
# one listener, all answering the same 13-byte body:
#
#   - respond.test: respond = "Hello, World!" (served on the event loop);
#   - cached.test: a proxy host over the upstream with
#     cache = { ttl = "1h" }: after the first request every answer is a
#     hit (X-Cache: HIT), which it checks, and the upstream is not asked;
#   - cached-respond.test: the respond host with a cache in front.
#
# wrk picks the host with a Host header. For ROUNDS rounds it runs wrk on
# each host in turn, alternating the order, and prints each run's
# requests/s and the CPU time Rockstar spent per request (master and
# workers, from /proc: see bench/measure.sh), then the medians. The last
# lines are the ratios to the respond host's median requests/s (the target
# is >= 1.0) and CPU per request (lower is better), of the cached respond
# host, then of the proxied cache hit:
#
#   cached respond/respond req/s: Y.YY  cpu/request: V.VV
#   cache-hit/respond req/s: X.XX  cpu/request: W.WW
#
# Every process it starts is stopped by pid on exit. It exits 1 if a run
# had socket errors or non-2xx answers (after the last line), 2 if it
# could not run.
set -euo pipefail

ME=cache.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-auto}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

for tool in wrk curl go; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$ME: $tool is missing (apt-get install -y wrk curl; Go from go.dev)" >&2
		exit 2
	fi
done
if [[ $WORKERS != auto && ! $WORKERS =~ ^[1-9][0-9]*$ ]]; then
	echo "$ME: WORKERS=$WORKERS: want a number or auto" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cache-bench.XXXXXX")
STARTED=()

ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$WORK/upstream" || $exe == "$WORK/rockstar" ]]
}
# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"

# wait_hello HOST URL waits up to 30s until url answers "Hello, World!"
# for Host HOST.
wait_hello() {
	local host=$1 url=$2 deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		if [[ $(curl -s --max-time 1 -H "Host: $host" "$url" 2>/dev/null) == "Hello, World!" ]]; then
			return
		fi
		sleep 0.05
	done
	echo "$ME: $host does not answer at $url" >&2
	tail -20 "$WORK/rockstar.log" >&2 || true
	exit 2
}

echo "building rockstar and bench/upstream..."
(cd "$ROOT" && go build -o "$WORK/rockstar" ./cmd/rockstar && go build -o "$WORK/upstream" ./bench/upstream)

UP=$(free_port)
"$WORK/upstream" -addr "127.0.0.1:$UP" -name a >"$WORK/upstream.log" 2>&1 &
STARTED+=($!)

RPORT=$(free_port)
RADMIN=$(free_port)
mkdir -p "$WORK/rockstar.d"
RWORKERS=$WORKERS
[[ $RWORKERS == auto ]] && RWORKERS='"auto"'
cat >"$WORK/rockstar.d/rockstar.toml" <<EOF
[supervisor]
workers = $RWORKERS
control_socket = "$WORK/rockstar.d/ctl.sock"
pid_file = "$WORK/rockstar.d/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = "warn"

[admin]
listen = "127.0.0.1:$RADMIN"

[[server]]
listen = "127.0.0.1:$RPORT"

[[host]]
hostname = "respond.test"
respond = "Hello, World!"

[[host]]
hostname = "cached.test"
proxy = { upstreams = ["127.0.0.1:$UP"] }
cache = { ttl = "1h", max_size = "16MB" }

[[host]]
hostname = "cached-respond.test"
respond = "Hello, World!"
cache = { ttl = "1h", max_size = "16MB" }
EOF
"$WORK/rockstar" run -c "$WORK/rockstar.d/rockstar.toml" >"$WORK/rockstar.log" 2>&1 &
RPID=$!
STARTED+=("$RPID")
URL="http://127.0.0.1:$RPORT/"
for h in respond.test cached.test cached-respond.test; do
	wait_hello "$h" "$URL"
done
for h in cached.test cached-respond.test; do
	xc=$(curl -s -D - -o /dev/null -H "Host: $h" "$URL" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" {print $2}')
	if [[ $xc != HIT ]]; then
		echo "$ME: $h answered X-Cache: '$xc', want HIT" >&2
		exit 2
	fi
done

run_wrk() { wrk_cpu "$1" "$RPID" "$URL" "$2" -H "Host: $1"; }

echo "cpus $(nproc), workers $WORKERS, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds"
echo "warming up ($WARMUP each)..."
for h in respond.test cached.test cached-respond.test; do run_wrk "$h" "$WARMUP" >/dev/null; done

R=() C=() CR=()    # req/s of each host, a round each
RU=() CU=() CRU=() # Rockstar's CPU microseconds per request
for round in $(seq "$ROUNDS"); do
	if ((round % 2)); then
		read -r r ru <<<"$(run_wrk respond.test "$DURATION")"
		read -r c cu <<<"$(run_wrk cached.test "$DURATION")"
		read -r cr cru <<<"$(run_wrk cached-respond.test "$DURATION")"
	else
		read -r cr cru <<<"$(run_wrk cached-respond.test "$DURATION")"
		read -r c cu <<<"$(run_wrk cached.test "$DURATION")"
		read -r r ru <<<"$(run_wrk respond.test "$DURATION")"
	fi
	R+=("$r") C+=("$c") CR+=("$cr") RU+=("$ru") CU+=("$cu") CRU+=("$cru")
	printf 'round %d: respond %8.0f req/s %6.2f us/req   cache hit (proxy) %8.0f req/s %6.2f us/req   cache hit (respond) %8.0f req/s %6.2f us/req\n' \
		"$round" "$r" "$ru" "$c" "$cu" "$cr" "$cru"
done
RM=$(echo "${R[*]}" | median) RUM=$(echo "${RU[*]}" | median)
CM=$(echo "${C[*]}" | median) CUM=$(echo "${CU[*]}" | median)
CRM=$(echo "${CR[*]}" | median) CRUM=$(echo "${CRU[*]}" | median)
printf 'median:  respond %8.0f req/s %6.2f us/req   cache hit (proxy) %8.0f req/s %6.2f us/req   cache hit (respond) %8.0f req/s %6.2f us/req\n' \
	"$RM" "$RUM" "$CM" "$CUM" "$CRM" "$CRUM"
if [[ -e $WORK/failed ]]; then
	echo "$ME: some runs had errors (above)" >&2
fi
echo "cached respond/respond req/s: $(ratio "$CRM" "$RM")  cpu/request: $(ratio "$CRUM" "$RUM")"
echo "cache-hit/respond req/s: $(ratio "$CM" "$RM")  cpu/request: $(ratio "$CUM" "$RUM")"
[[ ! -e $WORK/failed ]] || exit 1
