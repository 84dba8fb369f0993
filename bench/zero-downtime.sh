#!/usr/bin/env bash
# bench/zero-downtime.sh: the zero-downtime cases of the prefork supervisor,
# under a steady wrk load on 127.0.0.1, with each case's error counts.
#
#   bench/zero-downtime.sh            # from anywhere in the repository
#   DURATION=10s CONNS=64 bench/zero-downtime.sh
#   LOAD=h2 bench/zero-downtime.sh    # HTTP/2 over TLS under h2load
#
# It builds the binary once; then, for each case, it starts a fresh
# `rockstar run` (2 workers, ephemeral ports on 127.0.0.1), runs
# `wrk -t1 -c32 -d6s`, does the thing a second into the run, and reads wrk's
# "Socket errors" and "Non-2xx or 3xx responses" lines. Every case but kill -9 must have no errors at all;
# a kill -9 of one worker may only fail requests in flight on it (read
# errors, at most one per connection), never a connect.
#
# LOAD=h2 serves TLS with HTTP/2 instead and loads it with
# `h2load -t1 -cCONNS -mSTREAMS -D DURATION`, reading h2load's "requests:"
# line: no case but kill -9 may fail, error or time out a request, and
# kill -9 may fail at most STREAMS+1 per connection. h2load never
# reconnects after a GOAWAY and counts the request it could not send as
# failed, so the drains must let its busy connections finish: the
# shutdown_timeout is 30s there (SHUTDOWN_TIMEOUT), longer than the run.
# It exits 1 if a case failed, 2 if it could not run.
set -euo pipefail

DURATION=${DURATION:-6s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ACT_AFTER=${ACT_AFTER:-1} # seconds into the load
LOAD=${LOAD:-wrk}         # wrk (HTTP/1.1) or h2 (HTTP/2 over TLS, h2load)
STREAMS=${STREAMS:-10}    # h2load's concurrent streams per connection

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v wrk >/dev/null 2>&1; then
	echo "zero-downtime.sh: wrk is missing: apt-get install wrk" >&2
	exit 2
fi
if [[ $LOAD == h2 ]] && ! command -v h2load >/dev/null 2>&1; then
	echo "zero-downtime.sh: h2load is missing: apt-get install nghttp2-client" >&2
	exit 2
fi
if ! command -v go >/dev/null 2>&1; then
	echo "zero-downtime.sh: go is missing" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zero-downtime.XXXXXX")
BIN=$WORK/rockstar
STARTED=() # every process this script started or learned of, by pid

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh" # ours, cleanup (trapped), the build, config, count, wait_log, worker_pids

if [[ $LOAD == h2 ]]; then
	"$BIN" cert -hosts hello.test -out "$WORK/certs" >/dev/null
	export TLS_CERT=$WORK/certs/cert.pem TLS_KEY=$WORK/certs/key.pem
	export SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-30s}
fi

# remember_pids: the serving master and its workers, for cleanup.
remember_pids() {
	local pid
	[[ -f $DIR/run/rockstar.pid ]] && STARTED+=("$(cat "$DIR/run/rockstar.pid")")
	for pid in $(worker_pids); do STARTED+=("$pid"); done
}


# start CASE: a fresh master with 2 workers; sets DIR, LOG, MASTER, ADDR.
start() {
	DIR=$WORK/$1
	LOG=$DIR/master.log
	mkdir -p "$DIR"
	config 2 hello >"$DIR/rockstar.toml"
	: >"$LOG" # before the master starts: a background job opens it later
	"$BIN" run -c "$DIR/rockstar.toml" --log-format json >>"$LOG" 2>&1 &
	MASTER=$!
	STARTED+=("$MASTER")
	wait_log "$LOG" ready 1 30
	ADDR=$(grep '"message":"ready"' "$LOG" | head -1 |
		grep -o '"listeners":\["[^"]*' | sed 's/.*\["//; s/ (.*//')
	remember_pids
}

# stop: stops the master serving now (after USR2, the new one) and waits.
stop() {
	local pid deadline
	pid=$(cat "$DIR/run/rockstar.pid" 2>/dev/null || echo "$MASTER")
	ours "$pid" && kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while ours "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
	ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
	wait "$MASTER" 2>/dev/null || true
}

# The actions, run a second into the load; each waits for its result.
act_hup_in_place() {
	config 2 changed >"$DIR/rockstar.toml.tmp" && mv "$DIR/rockstar.toml.tmp" "$DIR/rockstar.toml"
	kill -HUP "$MASTER"
	wait_log "$LOG" reloaded 1 20
}
act_hup_new_generation() {
	config 3 hello >"$DIR/rockstar.toml.tmp" && mv "$DIR/rockstar.toml.tmp" "$DIR/rockstar.toml"
	kill -HUP "$MASTER"
	wait_log "$LOG" "old generation drained" 1 20
}
act_ttin() {
	kill -TTIN "$MASTER"
	wait_log "$LOG" "added a worker" 1 20
}
act_ttou() {
	kill -TTOU "$MASTER"
	wait_log "$LOG" "old generation drained" 1 20
}
act_usr2() {
	kill -USR2 "$MASTER"
	wait_log "$LOG" ready 2 30
	wait "$MASTER" 2>/dev/null || true # the old master drains and exits
}
act_kill_worker() {
	local victim
	victim=$(worker_pids | head -1)
	kill -KILL "$victim"
	wait_log "$LOG" "worker exited unexpectedly; restarting" 1 20
}

# load: the load of one case, on ADDR, for DURATION.
load() {
	if [[ $LOAD == h2 ]]; then
		h2load -t1 -c"$CONNS" -m"$STREAMS" -D "${DURATION%s}" -H ":authority: hello.test" "https://$ADDR/"
	else
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -H "Host: hello.test" "http://$ADDR/"
	fi
}

# h2_row CASE OUT: the verdict on h2load's output OUT, added to ROWS.
h2_row() {
	local c=$1 total ok failed errored timeout verdict=ok
	read -r total ok failed errored timeout < <(
		sed -n 's/^requests: \([0-9]*\) total.* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3 \4 \5/p' "$2" |
			grep . || echo 0 0 0 0 0
	)
	if ((ok == 0)); then
		verdict="FAIL (no requests)"
	elif [[ $c == kill_worker ]]; then
		if ((failed + errored + timeout > 2 * CONNS * (STREAMS + 1))); then verdict=FAIL; fi
	elif ((failed + errored + timeout > 0)); then
		verdict=FAIL
	fi
	[[ $verdict == ok ]] || FAILED=1
	ROWS+=("$(printf '%-20s %10s %10s %8s %8s %8s  %s' "${c//_/-}" "$total" "$ok" "$failed" "$errored" "$timeout" "$verdict")")
}

CASES=(hup_in_place hup_new_generation ttin ttou usr2 kill_worker)
FAILED=0
ROWS=()
for c in "${CASES[@]}"; do
	echo "case ${c//_/-}..." >&2
	start "$c"
	load >"$DIR/load.out" 2>&1 &
	WRK=$!
	STARTED+=("$WRK")
	sleep "$ACT_AFTER"
	"act_$c"
	remember_pids
	wait "$WRK" || true
	stop
	out=$DIR/load.out
	if [[ $LOAD == h2 ]]; then
		h2_row "$c" "$out"
		continue
	fi

	reqs=$(awk '/requests in/ { print $1 }' "$out")
	read -r connect read write timeout < <(
		sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out" |
			grep . || echo 0 0 0 0
	)
	non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$out")
	non2xx=${non2xx:-0}
	verdict=ok
	if [[ -z $reqs || $reqs == 0 ]]; then
		verdict="FAIL (no requests)"
	elif [[ $c == kill_worker ]]; then
		if ((connect + non2xx + timeout > 0 || read + write > CONNS)); then verdict=FAIL; fi
	elif ((connect + read + write + timeout + non2xx > 0)); then
		verdict=FAIL
	fi
	[[ $verdict == ok ]] || FAILED=1
	ROWS+=("$(printf '%-20s %10s %8s %6s %6s %8s %8s  %s' "${c//_/-}" "${reqs:-0}" "$connect" "$read" "$write" "$timeout" "$non2xx" "$verdict")")
done

echo
if [[ $LOAD == h2 ]]; then
	echo "h2load -t1 -c$CONNS -m$STREAMS -D ${DURATION%s} against 127.0.0.1 (TLS), 2 workers, action ${ACT_AFTER}s in"
	printf '%-20s %10s %10s %8s %8s %8s  %s\n' case requests succeeded failed errored timeout verdict
else
	echo "wrk -t$THREADS -c$CONNS -d$DURATION against 127.0.0.1, 2 workers, action ${ACT_AFTER}s in"
	printf '%-20s %10s %8s %6s %6s %8s %8s  %s\n' case requests connect read write timeout non-2xx verdict
fi
for r in "${ROWS[@]}"; do echo "$r"; done
exit "$FAILED"
