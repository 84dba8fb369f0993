# bench/procs.sh: how the bench scripts stop what they start, by pid.
# Source it after setting WORK (a temp dir it removes) and STARTED=() (the
# pids to stop), with a function `ours PID` that reports whether PID is
# still a live process of the script's own (by its executable, so that a
# recycled pid is never killed). It traps EXIT, INT and TERM.

# cleanup stops every process in STARTED by pid (a stopped one is
# continued first), kills what is left after 10 s, and removes WORK.
cleanup() {
	local pid deadline
	trap - EXIT INT TERM
	for pid in "${STARTED[@]}"; do
		ours "$pid" && kill -CONT "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
	done
	deadline=$((SECONDS + 10))
	for pid in "${STARTED[@]}"; do
		while ours "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
		ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
