# bench/measure.sh: what bench/static.sh and bench/proxy.sh share: free
# loopback ports, wrk runs that also take the CPU time a server spent on
# them, medians and ratios. Source it after setting ME (the script's name,
# for messages), WORK (its temp dir), THREADS and CONNS (wrk's -t and -c).

CLK_TCK=$(getconf CLK_TCK) # the unit of utime and stime in /proc/PID/stat

# free_port prints a loopback port nothing listens on, not handed out before.
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			echo "$p"
			return
		fi
	done
	echo "$ME: no free port" >&2
	exit 2
}

# tree_ticks PID prints the CPU time (utime+stime, in clock ticks) of PID
# and of every live process below it, found through the ppid field of
# /proc/*/stat: a prefork master and its workers, nginx's master and its
# workers. The command name, field 2, may hold spaces and parentheses:
# the fields are counted from its last ") ".
tree_ticks() {
	# a process may end between the glob and cat: cat then fails
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
	{
		s = $0
		sub(/^[0-9]+ \(.*\) /, "", s)
		split(s, f, " ")
		ppid[$1] = f[2]     # field 4
		t[$1] = f[12] + f[13] # fields 14 and 15
	}
	END {
		mine[root] = 1
		total = t[root]
		for (grew = 1; grew;) {
			grew = 0
			for (p in ppid)
				if (!(p in mine) && (ppid[p] in mine)) {
					mine[p] = 1
					total += t[p]
					grew = 1
				}
		}
		print total + 0
	}'
}

# wrk_cpu NAME PID URL DURATION [WRK OPTION...] runs wrk -tTHREADS -cCONNS
# -dDURATION against URL and prints "RPS US": its requests per second, and
# the CPU time that PID's process tree spent per request it completed (wrk's
# "N requests in"), in microseconds, sampled right before and after the run.
# Socket errors, non-2xx answers and a run without figures are shown and
# noted in $WORK/failed (wrk_cpu runs in a subshell).
wrk_cpu() {
	local name=$1 pid=$2 url=$3 dur=$4 out before after rps n
	shift 4
	before=$(tree_ticks "$pid")
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$dur" "$@" "$url" 2>&1) || true
	after=$(tree_ticks "$pid")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	n=$(awk '/ requests in / {print $1}' <<<"$out")
	if [[ -z $rps || -z $n ]]; then
		echo "$ME: $name: wrk gave no figures:" >&2
		echo "$out" >&2
		touch "$WORK/failed"
	elif grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
		echo "$ME: $name: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ')" >&2
		touch "$WORK/failed"
	fi
	awk -v r="${rps:-0}" -v n="${n:-0}" -v t=$((after - before)) -v hz="$CLK_TCK" \
		'BEGIN { printf "%s %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0) }'
}

# median prints the median of the numbers on its input, separated by
# spaces or newlines; 0 for none.
median() {
	tr ' ' '\n' | awk NF | sort -g |
		awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# ratio A B prints A/B with two decimals, n/a when B is not above 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
