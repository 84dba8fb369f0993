#!/usr/bin/env bash
# bench/soak.sh: the chaos mix of supervisor/chaos_test.go for a set time,
# under wrk on 127.0.0.1, and one summary line.
#
#   bench/soak.sh                          # from anywhere in the repository
#   SOAK_DURATION=30s CONNS=32 SOAK_SEED=7 bench/soak.sh
#
# It builds the binary, starts `rockstar run` (2 workers, ephemeral ports on
# 127.0.0.1) and runs `wrk -t$THREADS -c$CONNS -d$SOAK_DURATION` against it
# while it does, in a random order seeded by SOAK_SEED (printed): kill -9 of
# a worker, SIGSTOP of a worker until the master finds it hung and replaces
# it, HUP with a good and with a bad config, TTIN then TTOU, and, once, a
# USR2 upgrade (a third into the run). Each action waits for its result in
# the master's log. Then it prints:
#
#   soak: duration=30s requests=... non2xx=... connect=... read=... write=...
#   timeout=... restarts=... (kill9=... hung=...) hups=... bad_hups=...
#   ttin_ttou=... upgrades=1 master_rss_kb start=... upgraded=... end=...
#
# master_rss_kb: the first master a second into the load, the new master
# just after the upgrade, and the same one at the end. It cleans up by pid
# (trap) and exits 1 on connect errors or non-2xx answers, 2 if it could not
# run.
set -euo pipefail

SOAK_DURATION=${SOAK_DURATION:-60s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SOAK_SEED=${SOAK_SEED:-$$}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for tool in wrk go; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "soak.sh: $tool is missing" >&2
		exit 2
	fi
done
case $SOAK_DURATION in
*s) SECS=${SOAK_DURATION%s} ;;
*m) SECS=$((${SOAK_DURATION%m} * 60)) ;;
*) SECS=$SOAK_DURATION ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
BIN=$WORK/rockstar
DIR=$WORK/run
LOG=$DIR/master.log
STARTED=() # every process this script started or learned of, by pid

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh" # ours, cleanup (trapped), the build, config, count, wait_log, worker_pids

write_config() { config "$@" >"$DIR/rockstar.toml.tmp" && mv "$DIR/rockstar.toml.tmp" "$DIR/rockstar.toml"; }

master() { cat "$DIR/run/rockstar.pid" 2>/dev/null || echo "$FIRST"; }
remember() {
	local pid
	STARTED+=("$(master)")
	for pid in $(worker_pids); do STARTED+=("$pid"); done
}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# calm N: N workers in status, none draining, within 30s.
calm() {
	local deadline=$((SECONDS + 30))
	until [[ $(worker_pids | grep -c .) == "$1" ]] && ! "$BIN" status -s "$DIR/run/ctl.sock" 2>/dev/null | grep -qi draining; do
		if ((SECONDS >= deadline)); then
			echo "soak.sh: no calm with $1 workers" >&2
			exit 2
		fi
		sleep 0.05
	done
	remember
}

KILLS=0 HUNG=0 HUPS=0 BAD=0 SCALE=0 UPGRADES=0 BODY=hello
act_kill9() {
	local n victim
	n=$(count "$LOG" "worker exited unexpectedly; restarting")
	victim=$(worker_pids | shuf -n1 --random-source=<(yes "$RANDOM"))
	kill -KILL "$victim" 2>/dev/null || return 0 # gone since the status: skip
	wait_log "$LOG" "worker exited unexpectedly; restarting" $((n + 1)) 20 || exit 2
	KILLS=$((KILLS + 1))
	calm 2
}
act_sigstop() {
	local n victim
	n=$(count "$LOG" "worker hung: missed health checks; killing it")
	victim=$(worker_pids | shuf -n1 --random-source=<(yes "$RANDOM"))
	kill -STOP "$victim" 2>/dev/null || return 0
	STARTED+=("$victim") # cleanup sends it CONT and TERM if it outlives the test
	wait_log "$LOG" "worker hung: missed health checks; killing it" $((n + 1)) 20 || exit 2
	HUNG=$((HUNG + 1))
	calm 2
}
act_hup_good() {
	local n
	n=$(count "$LOG" reloaded)
	[[ $BODY == hello ]] && BODY=hullo || BODY=hello
	write_config 2 "$BODY" demo
	kill -HUP "$(master)"
	wait_log "$LOG" reloaded $((n + 1)) 20 || exit 2
	HUPS=$((HUPS + 1))
	calm 2
}
act_hup_bad() {
	local n
	n=$(count "$LOG" "reload failed; still serving the old config")
	write_config 2 "$BODY" nosuch
	kill -HUP "$(master)"
	wait_log "$LOG" "reload failed; still serving the old config" $((n + 1)) 20 || exit 2
	write_config 2 "$BODY" demo
	BAD=$((BAD + 1))
}
act_ttin_ttou() {
	kill -TTIN "$(master)"
	calm 3
	kill -TTOU "$(master)"
	calm 2
	SCALE=$((SCALE + 1))
}
act_usr2() {
	local old
	old=$(master)
	kill -USR2 "$old"
	wait_log "$LOG" ready $(($(count "$LOG" ready) + 1)) 30 || exit 2
	while ours "$old"; do sleep 0.05; done # it drains and exits
	UPGRADES=$((UPGRADES + 1))
	calm 2
}

RANDOM=$SOAK_SEED
echo "soak: seed $SOAK_SEED (SOAK_SEED=$SOAK_SEED replays the order)" >&2
mkdir -p "$DIR"
write_config 2 "$BODY" demo
: >"$LOG"
(cd "$DIR" && exec "$BIN" run -c "$DIR/rockstar.toml" --log-format json >>"$LOG" 2>&1) &
FIRST=$!
STARTED+=("$FIRST")
wait_log "$LOG" ready 1 30 || exit 2
ADDR=$(grep '"message":"ready"' "$LOG" | head -1 | grep -o '"listeners":\["[^"]*' | sed 's/.*\["//; s/ (.*//')
calm 2

START=$SECONDS
wrk -t"$THREADS" -c"$CONNS" -d"$SOAK_DURATION" -H "Host: hello.test" "http://$ADDR/" >"$WORK/wrk.out" 2>&1 &
WRK=$!
STARTED+=("$WRK")
sleep 1 # a second of steady load before the first reading
RSS_START=$(rss "$(master)")
RSS_UPGRADED=$RSS_START
ACTS=(act_kill9 act_sigstop act_hup_good act_hup_bad act_ttin_ttou)
# Actions until 3 s before wrk ends, so the last one's result is served.
while ((SECONDS - START < SECS - 3)); do
	if ((UPGRADES == 0 && SECONDS - START >= SECS / 3)); then
		echo "soak: $((SECONDS - START))s usr2" >&2
		act_usr2
		RSS_UPGRADED=$(rss "$(master)")
		continue
	fi
	a=${ACTS[RANDOM % ${#ACTS[@]}]}
	echo "soak: $((SECONDS - START))s ${a#act_}" >&2
	"$a"
done
((UPGRADES > 0)) || { act_usr2; RSS_UPGRADED=$(rss "$(master)"); }
wait "$WRK" || true
RSS_END=$(rss "$(master)")

out=$WORK/wrk.out
reqs=$(awk '/requests in/ { print $1 }' "$out")
read -r connect read write timeout < <(
	sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out" |
		grep . || echo 0 0 0 0
)
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$out")
non2xx=${non2xx:-0}
echo "soak: duration=$SOAK_DURATION conns=$CONNS requests=${reqs:-0} non2xx=$non2xx connect=$connect read=$read write=$write timeout=$timeout restarts=$((KILLS + HUNG)) (kill9=$KILLS hung=$HUNG) hups=$HUPS bad_hups=$BAD ttin_ttou=$SCALE upgrades=$UPGRADES master_rss_kb start=$RSS_START upgraded=$RSS_UPGRADED end=$RSS_END"
if [[ -z $reqs || $reqs == 0 ]] || ((connect + non2xx > 0)); then
	exit 1
fi
