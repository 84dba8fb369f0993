#!/usr/bin/env bash
# bench/static.sh: static files (issue 16). wrk -> Rockstar beside wrk ->
# nginx, both serving the same directory, in the same run, on 127.0.0.1.
#
#   bench/static.sh                         # from anywhere in the repository
#   DURATION=3s ROUNDS=1 bench/static.sh    # a quick look
#   ROUNDS=5 DURATION=10s CONNS=64 THREADS=2 WORKERS=2 bench/static.sh
#
# It builds ./cmd/rockstar and writes into a temp dir the files both
# servers serve:
#
#   1k.txt        1 KiB of text
#   page.html     20 KiB of HTML-ish text
#   page.html.gz  gzip -k -9 of page.html
#   1m.bin        1 MiB of random bytes
#
# Rockstar: `rockstar run`, WORKERS workers (default: one per CPU), one
# [[server]] with protocols ["http1"], one [[host]] "127.0.0.1" with root
# = the dir; log level warn, no access log, no admin listener.
# nginx: worker_processes WORKERS, sendfile on, access_log off, gzip_static
# on, root the same dir.
#
# Four cases: GET /1k.txt, /page.html, /1m.bin, and /page.html with
# Accept-Encoding: gzip (nginx answers with page.html.gz; Rockstar with
# whatever it does with .gz siblings). Before measuring it checks that
# every case answers 200 with the file's bytes (gunzipped when the answer
# is gzip) and prints, per case, the size each server returned:
#
#   size gzip (/page.html, Accept-Encoding: gzip): rockstar 20480 B (identity)   nginx 4694 B (gzip)
#
# so that a reader sees when one compresses and the other does not. Then
# a warm-up run (WARMUP, default 2s) per server and case, and ROUNDS rounds
# (default 3) of wrk -tTHREADS -cCONNS -dDURATION (defaults 2, 64, 10s) on
# each case and server, alternating which server goes first. It prints
# each round's requests/s, then per case the median requests/s and the
# median CPU time per request of each server's process tree (master and
# workers, utime+stime from /proc before and after each run, over wrk's
# request count; see bench/measure.sh), with their ratios. The last line
# is the ratios Rockstar/nginx of the median requests/s:
#
#   rockstar/nginx static 1k: A.AA  20k: B.BB  1m: C.CC  gzip: D.DD
#
# Every process it starts is stopped by pid on exit, on Ctrl-C too. It
# exits 1 if a run had socket errors or non-2xx answers (after the last
# line), 2 if it could not run (wrk, curl, nginx or go missing: apt-get
# install -y wrk curl nginx; Go from go.dev).
set -euo pipefail

ME=static.sh
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-$(nproc)} # worker processes of both servers

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for tool in wrk curl go gzip; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$ME: $tool is missing (apt-get install -y wrk curl gzip; Go from go.dev)" >&2
		exit 2
	fi
done
if [[ ! -x $NGINX ]]; then
	echo "$ME: nginx is missing: apt-get install -y nginx" >&2
	exit 2
fi
if [[ ! $WORKERS =~ ^[1-9][0-9]*$ ]]; then
	echo "$ME: WORKERS=$WORKERS: want a number" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/static-bench.XXXXXX")
BIN=$WORK/rockstar
STARTED=() # every process this script started, by pid

# ours reports whether pid is a live process of ours: rockstar (master or
# worker) or nginx (master or worker).
ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$BIN" || $exe == "$(readlink -f "$NGINX")" ]]
}
# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh" # free_port, wrk_cpu, median, ratio

# wait_port PORT LOG waits up to 20 s until 127.0.0.1:PORT accepts, else
# shows LOG and exits 2.
wait_port() {
	local deadline=$((SECONDS + 20))
	while ((SECONDS < deadline)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
		sleep 0.05
	done
	echo "$ME: nothing listens on 127.0.0.1:$1; $2 says:" >&2
	tail -20 "$2" >&2 || true
	exit 2
}

echo "building rockstar..."
(cd "$ROOT" && go build -o "$BIN" ./cmd/rockstar)

# ---- the files
DOCS=$WORK/docs
mkdir -p "$DOCS"
awk 'BEGIN {
	srand(16)
	n = split("rockstar nginx static file page worker master socket request answer header body cache gzip sendfile kernel buffer stream", w, " ")
	for (i = 0; i < 1024; i++) printf "%s%s", w[int(rand() * n) + 1], (i % 12 == 11 ? "\n" : " ")
}' >"$DOCS/1k.txt"
truncate -s 1024 "$DOCS/1k.txt"
TAIL=$'</main>\n</body>\n</html>\n'
awk 'BEGIN {
	srand(20)
	n = split("the a static file is served from disk by each worker process with sendfile when its size allows and a header says how long a cache may keep it while gzip makes text smaller on the wire", w, " ")
	print "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Rockstar static bench</title></head>\n<body>\n<main>"
	for (p = 1; p <= 400; p++) {
		printf "<section id=\"s%d\"><h2>Section %d</h2>\n<p class=\"c%d\">", p, p, p % 7
		k = 20 + int(rand() * 30)
		for (i = 0; i < k; i++) printf "%s ", w[int(rand() * n) + 1]
		printf "<a href=\"/page/%d.html\">more</a></p></section>\n", int(rand() * 100000)
	}
}' >"$WORK/page.long"
{ head -c $((20480 - ${#TAIL})) "$WORK/page.long"; printf '%s' "$TAIL"; } >"$DOCS/page.html"
head -c 1048576 /dev/urandom >"$DOCS/1m.bin"
gzip -k -9 "$DOCS/page.html"
# nginx's workers run as nobody when it is started as root: let them in.
chmod 755 "$WORK" "$DOCS"
chmod 644 "$DOCS"/*

# ---- Rockstar
RPORT=$(free_port)
mkdir -p "$WORK/rs"
cat >"$WORK/rs/rockstar.toml" <<EOF
[supervisor]
workers = $WORKERS
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = "warn"

[admin]
listen = ""

[[server]]
listen = "127.0.0.1:$RPORT"
protocols = ["http1"]

[[host]]
hostname = "127.0.0.1"
root = "$DOCS"
EOF
"$BIN" run -c "$WORK/rs/rockstar.toml" >"$WORK/rs/log" 2>&1 &
RPID=$!
STARTED+=("$RPID")
wait_port "$RPORT" "$WORK/rs/log"

# ---- nginx
NPORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 16384; }
http {
    types {
        text/html html;
        text/plain txt;
        application/octet-stream bin;
    }
    access_log off;
    sendfile on;
    gzip_static on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$NPORT;
        root $DOCS;
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" -g "daemon off;" >"$WORK/nginx/log" 2>&1 &
NPID=$!
STARTED+=("$NPID")
wait_port "$NPORT" "$WORK/nginx/error.log"

# ---- the cases: name, path, the file the body must equal, wrk options
CASES=(1k 20k 1m gzip)
declare -A CPATH=([1k]=/1k.txt [20k]=/page.html [1m]=/1m.bin [gzip]=/page.html)
declare -A CFILE=([1k]=1k.txt [20k]=page.html [1m]=1m.bin [gzip]=page.html)
declare -A CHDR=([1k]="" [20k]="" [1m]="" [gzip]="Accept-Encoding: gzip")
declare -A PORT=([rockstar]=$RPORT [nginx]=$NPORT)
declare -A PID=([rockstar]=$RPID [nginx]=$NPID)

# hdr_args CASE prints nothing or, one a line, -H and the case's header.
hdr_args() { [[ -z ${CHDR[$1]} ]] || printf '%s\n%s\n' -H "${CHDR[$1]}"; }

# check SERVER CASE prints "SIZE ENCODING" of the server's answer to the
# case, after checking that it is 200 with the file's bytes; else exits 2.
check() {
	local s=$1 c=$2 code enc got=$WORK/got.$1.$2 hdr=()
	mapfile -t hdr < <(hdr_args "$c")
	code=$(curl -s --max-time 10 "${hdr[@]}" -D "$got.h" -o "$got" -w '%{http_code}' \
		"http://127.0.0.1:${PORT[$s]}${CPATH[$c]}") || true
	enc=$(tr -d '\r' <"$got.h" | awk -F': *' 'tolower($1) == "content-encoding" {print tolower($2)}')
	if [[ $code != 200 ]]; then
		echo "$ME: $s $c: GET ${CPATH[$c]} answered ${code:-nothing}, want 200" >&2
		exit 2
	fi
	if [[ $enc == gzip ]]; then
		gzip -dc <"$got" >"$got.d" && mv "$got.d" "$got.plain"
	else
		cp "$got" "$got.plain"
	fi
	if ! cmp -s "$got.plain" "$DOCS/${CFILE[$c]}"; then
		echo "$ME: $s $c: GET ${CPATH[$c]} answered other bytes than ${CFILE[$c]} (encoding ${enc:-identity})" >&2
		exit 2
	fi
	echo "$(stat -c %s "$got") ${enc:-identity}"
}

echo "cpus $(nproc), workers $WORKERS, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds"
for c in "${CASES[@]}"; do
	r=$(check rockstar "$c") || exit 2
	n=$(check nginx "$c") || exit 2
	read -r rs re <<<"$r"
	read -r ns ne <<<"$n"
	desc=${CPATH[$c]}
	[[ -n ${CHDR[$c]} ]] && desc+=", ${CHDR[$c]}"
	printf 'size %s (%s): rockstar %s B (%s)   nginx %s B (%s)\n' "$c" "$desc" "$rs" "$re" "$ns" "$ne"
done

# run SERVER CASE DURATION prints "RPS US" of one wrk run.
run() {
	local hdr=()
	mapfile -t hdr < <(hdr_args "$2")
	wrk_cpu "$1 $2" "${PID[$1]}" "http://127.0.0.1:${PORT[$1]}${CPATH[$2]}" "$3" "${hdr[@]}"
}

echo "warming up ($WARMUP per server and case)..."
for c in "${CASES[@]}"; do
	run rockstar "$c" "$WARMUP" >/dev/null
	run nginx "$c" "$WARMUP" >/dev/null
done

declare -A RPS CPU # "SERVER CASE": the rounds' figures, separated by spaces
for round in $(seq "$ROUNDS"); do
	order=(rockstar nginx)
	((round % 2)) || order=(nginx rockstar)
	line="round $round:"
	for c in "${CASES[@]}"; do
		declare -A this=()
		for s in "${order[@]}"; do
			read -r rps us <<<"$(run "$s" "$c" "$DURATION")"
			RPS[$s $c]+="$rps "
			CPU[$s $c]+="$us "
			this[$s]=$rps
		done
		line+=$(printf '  %s %.0f/%.0f' "$c" "${this[rockstar]}" "${this[nginx]}")
	done
	echo "$line  req/s rockstar/nginx"
done

echo "medians of $ROUNDS rounds; CPU: utime+stime of each server's master and workers per request"
printf '%-5s %14s %14s %8s %16s %16s %8s\n' case "rockstar req/s" "nginx req/s" "ratio" "rockstar us/req" "nginx us/req" "ratio"
declare -A RATIO
for c in "${CASES[@]}"; do
	rm=$(median <<<"${RPS[rockstar $c]}")
	nm=$(median <<<"${RPS[nginx $c]}")
	rc=$(median <<<"${CPU[rockstar $c]}")
	nc=$(median <<<"${CPU[nginx $c]}")
	RATIO[$c]=$(ratio "$rm" "$nm")
	printf '%-5s %14.0f %14.0f %8s %16.2f %16.2f %8s\n' "$c" "$rm" "$nm" "${RATIO[$c]}" "$rc" "$nc" "$(ratio "$rc" "$nc")"
done
if [[ -e $WORK/failed ]]; then
	echo "$ME: some runs had errors (above)" >&2
fi
echo "rockstar/nginx static 1k: ${RATIO[1k]}  20k: ${RATIO[20k]}  1m: ${RATIO[1m]}  gzip: ${RATIO[gzip]}"
[[ ! -e $WORK/failed ]] || exit 1
