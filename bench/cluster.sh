#!/usr/bin/env bash
# bench/cluster.sh: what a cluster-scoped rate limit (issue 19) costs on the
# hello benchmark beside a machine-scoped one, with Redis on loopback.
#
#   bench/cluster.sh                      # from anywhere in the repository
#   ROUNDS=5 DURATION=10s CONNS=64 WORKERS=2 bench/cluster.sh
#   RATE=200000 BURST=20000 bench/cluster.sh   # leases renewed often
#
# It builds the rockstar binary, starts redis-server on a free loopback
# port (no persistence) and `rockstar run` with two "Hello, World!" hosts:
# machine.test with a host limit of scope "machine" and cluster.test with
# the same limit of scope "cluster", both above what the machine can serve
# (requests_per_second = RATE, default 1e6, burst = BURST, default 100000),
# so that neither refuses and the difference is the hot path's alone; a
# lower RATE makes the master renew its lease more often (a lease is
# RATE × 100 ms tokens). It checks both answer,
# warms both up, then runs wrk on each in turn, ROUNDS times, alternating
# which goes first, and prints each run's requests/s and CPU per request
# (the master's and workers' utime+stime over wrk's count; Redis's own CPU
# is shown apart), the medians, and last the ratio cluster/machine of the
# median requests/s (the target is >= 0.95):
#
#   cluster/machine limit req/s: E.EE  cpu/request: F.FF
#
# Every process it starts is stopped by pid on exit. It exits 1 if a run
# had socket errors or non-2xx answers (after the last line), 2 if it
# could not run.
set -euo pipefail

ME=cluster.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-auto} # rockstar's worker processes: a number or auto
RATE=${RATE:-1e6}        # both limits' requests_per_second
BURST=${BURST:-100000}   # and burst

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REDIS=$(command -v redis-server || echo /usr/bin/redis-server)

for tool in wrk curl go; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "cluster.sh: $tool is missing (apt-get install -y wrk curl; Go from go.dev)" >&2
		exit 2
	fi
done
if [[ ! -x $REDIS ]]; then
	echo "cluster.sh: redis-server is missing: apt-get install -y redis-server" >&2
	exit 2
fi
if [[ $WORKERS != auto && ! $WORKERS =~ ^[1-9][0-9]*$ ]]; then
	echo "cluster.sh: WORKERS=$WORKERS: want a number or auto" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cluster-bench.XXXXXX")
STARTED=() # every process this script started, by pid

# ours reports whether pid is a live process of ours: rockstar (master or
# worker) or redis-server.
ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$WORK/rockstar" || $exe == "$(readlink -f "$REDIS")" ]]
}
# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh" # free_port, tree_ticks, wrk_cpu, median, ratio

# wait_hello waits up to 30s until host answers "Hello, World!" at port.
wait_hello() {
	local port=$1 host=$2 deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		if [[ $(curl -s --max-time 1 -H "Host: $host" "http://127.0.0.1:$port/" 2>/dev/null) == "Hello, World!" ]]; then
			return
		fi
		sleep 0.05
	done
	echo "cluster.sh: $host does not answer at 127.0.0.1:$port" >&2
	tail -20 "$WORK/rockstar.log" >&2
	exit 2
}

echo "building rockstar..."
(cd "$ROOT" && go build -o "$WORK/rockstar" ./cmd/rockstar)

REDIS_PORT=$(free_port)
"$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
RDPID=$!
STARTED+=("$RDPID")
deadline=$((SECONDS + 10))
until [[ $( (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && head -c5 <&3) 2>/dev/null) == "+PONG" ]]; do
	if ((SECONDS >= deadline)); then
		echo "cluster.sh: redis-server does not answer on $REDIS_PORT" >&2
		tail -20 "$WORK/redis.log" >&2
		exit 2
	fi
	sleep 0.05
done

PORT=$(free_port)
ADMIN=$(free_port)
RWORKERS=$WORKERS
[[ $RWORKERS == auto ]] && RWORKERS='"auto"'
LIMIT="requests_per_second = $RATE, burst = $BURST"
cat >"$WORK/rockstar.toml" <<EOF
[supervisor]
workers = $RWORKERS
control_socket = "$WORK/ctl.sock"
pid_file = "$WORK/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = "warn"

[admin]
listen = "127.0.0.1:$ADMIN"

[cluster]
redis = "redis://127.0.0.1:$REDIS_PORT/0"

[[server]]
listen = "127.0.0.1:$PORT"

[[host]]
hostname = "machine.test"
respond = "Hello, World!"
rate_limit = { $LIMIT }

[[host]]
hostname = "cluster.test"
respond = "Hello, World!"
rate_limit = { $LIMIT, scope = "cluster" }
EOF
"$WORK/rockstar" run -c "$WORK/rockstar.toml" >"$WORK/rockstar.log" 2>&1 &
RPID=$!
STARTED+=("$RPID")
wait_hello "$PORT" machine.test
wait_hello "$PORT" cluster.test

# run_wrk SCOPE DURATION prints "RPS US" of one wrk run on SCOPE.test.
run_wrk() {
	wrk_cpu "$1" "$RPID" "http://127.0.0.1:$PORT/" "$2" -H "Host: $1.test"
}

echo "cpus $(nproc), workers $WORKERS, limits $RATE/s burst $BURST, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds"
echo "warming up ($WARMUP each)..."
run_wrk machine "$WARMUP" >/dev/null
run_wrk cluster "$WARMUP" >/dev/null

M=() MC=() # machine scope: req/s and CPU us/request, a round each
C=() CC=() # cluster scope
redis_before=$(tree_ticks "$RDPID")
for round in $(seq "$ROUNDS"); do
	if ((round % 2)); then
		read -r m mc <<<"$(run_wrk machine "$DURATION")"
		read -r c cc <<<"$(run_wrk cluster "$DURATION")"
	else
		read -r c cc <<<"$(run_wrk cluster "$DURATION")"
		read -r m mc <<<"$(run_wrk machine "$DURATION")"
	fi
	M+=("$m") MC+=("$mc")
	C+=("$c") CC+=("$cc")
	printf 'round %d: machine %10.0f req/s %7.2f us/req   cluster %10.0f req/s %7.2f us/req\n' "$round" "$m" "$mc" "$c" "$cc"
done
redis_after=$(tree_ticks "$RDPID")
trips=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^rockstar_cluster_redis_round_trips_total/ {s += $2} END {print s + 0}')
limited=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^rockstar_rate_limited_total/ {s += $2} END {print s + 0}')

MM=$(echo "${M[*]}" | median)
CM=$(echo "${C[*]}" | median)
MCM=$(echo "${MC[*]}" | median)
CCM=$(echo "${CC[*]}" | median)
printf 'median:  machine %10.0f req/s %7.2f us/req   cluster %10.0f req/s %7.2f us/req\n' "$MM" "$MCM" "$CM" "$CCM"
echo "redis-server: $(awk -v t=$((redis_after - redis_before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }') s of CPU in the rounds; $trips round trips in all; $limited requests refused"
echo "ratio cluster/machine: $(ratio "$CM" "$MM") (target >= 0.95)"
if [[ -e $WORK/failed ]]; then
	echo "cluster.sh: some runs had errors (above)" >&2
fi
echo "cluster/machine limit req/s: $(ratio "$CM" "$MM")  cpu/request: $(ratio "$CCM" "$MCM")"
[[ ! -e $WORK/failed ]] || exit 1
