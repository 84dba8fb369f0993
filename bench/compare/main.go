// Command compare runs Rockstar beside nginx, bare fasthttp and fasthttp's
// prefork under wrk on 127.0.0.1, and reports how they compare.
//
//	make bench-compare                    (or: go run ./bench/compare)
//	BENCH_DURATION=2s BENCH_ROUNDS=2 make bench-compare
//
// Every server answers GET / with the same "Hello, World!" body on a
// loopback port of its own:
//
//   - Rockstar: `rockstar run`, one worker per CPU, respond hosts in a tenant
//     with a rate limit too high to trigger, the admin endpoint (metrics) on,
//     the access log off;
//   - nginx: `return 200`, worker_processes auto, from a temporary config
//     (`nginx -p DIR -c CONF -g 'daemon off;'`);
//   - bare fasthttp in one process, and fasthttp's own prefork
//     (bench/servers/fasthttp-hello).
//
// The first pass runs wrk -t1 -c64 against them in turn (A B C D A B C D
// ...) for BENCH_ROUNDS rounds (default 5) of BENCH_DURATION (default 5s),
// so that drift in the machine's load hits all alike, and reports medians,
// and ratios to nginx as the median of the per-round ratios. For each run it
// records requests per second, p50 and p99 latency, errors, and the
// servers' CPU time per request, from /proc/PID/stat of the server's whole
// process tree sampled before and after the run, and the share of that CPU
// time the busiest process used: how the kernel spread the connections
// over the workers (nginx's one shared listening socket can leave most of
// them in one worker, Rockstar's SO_REUSEPORT sockets spread them by
// hash, and on a machine wrk shares, fewer busy processes cost less CPU
// per request). A second pass pins the
// servers to CPU 0 and wrk to CPU 1 (Rockstar with one worker, nginx with
// one) and reports p99 latency, compared with the pinned bare fasthttp.
//
// Then it measures Rockstar alone: the resident memory of an idle worker,
// the memory per connection with 10,000 idle keep-alive connections, the
// time from `rockstar run` to its ready line, and the time a HUP takes to
// push a config with 1,000 hosts. BENCH_EXTRAS=0 skips these, and
// BENCH_PINNED=0 the pinned pass.
//
// BENCH_ROCKSTAR=FILE benchmarks that rockstar binary instead of building
// ./cmd/rockstar, to compare two builds. BENCH_NGINX_REUSEPORT=1 adds a
// fifth server, nginx with `listen ... reuseport`: one socket per worker,
// the kernel spreading connections over them by hash, as Rockstar's
// sockets do; its ratios are to nginx like the others'.
//
// It writes the raw results to bench/results/latest.json and a chart to
// bench/results/latest.png (BENCH_OUT changes the directory), prints the
// tables on stdout, progress on stderr, and ends with the line
//
//	rockstar/nginx req/s ratio: X.XX  cpu/request ratio: Y.YY
//
// Every process it starts runs in its own process group and is stopped by
// pid when the program ends, on Ctrl-C too.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Settings of a run, from the environment.
type settings struct {
	Duration    time.Duration `json:"-"`
	DurationStr string        `json:"duration"`
	Rounds      int           `json:"rounds"`
	Threads     int           `json:"wrk_threads"`
	Connections int           `json:"wrk_connections"`
	Pinned      bool          `json:"pinned_pass"`
	Extras      bool          `json:"extras"`
	IdleConns   int           `json:"idle_connections"`
	// Servers are the servers in the order they run: serverOrder, and
	// nginx-reuseport with BENCH_NGINX_REUSEPORT=1.
	Servers     []string `json:"servers"`
	ReloadHosts int      `json:"reload_hosts"`
	out         string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s, err := readSettings()
	if err != nil {
		logf("%v", err)
		return 2
	}
	e := &env{procs: &procTable{}}
	var missing []string
	tool := func(name string, pkg string, extra ...string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range extra {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					return filepath.Join(dir, name)
				}
			}
			missing = append(missing, pkg)
			logf("%s not found in PATH", name)
		}
		return p
	}
	wrk := tool("wrk", "wrk")
	e.nginx = tool("nginx", "nginx", "/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")
	e.taskset = tool("taskset", "util-linux")
	goTool := tool("go", "golang-go", "/usr/local/go/bin")
	if len(missing) > 0 {
		logf("install what is missing with:\n\n    sudo apt-get install -y %s\n", strings.Join(missing, " "))
		return 1
	}

	root, err := repoRoot()
	if err != nil {
		logf("%v", err)
		return 1
	}
	if !filepath.IsAbs(s.out) {
		s.out = filepath.Join(root, s.out)
	}
	nofile := raiseNofile(s.IdleConns + 2000)

	e.tmp, err = os.MkdirTemp("", "rockstar-bench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer os.RemoveAll(e.tmp)
	// Stop everything this program started, whatever way it ends.
	defer e.procs.stopAll()

	e.rockstar = filepath.Join(e.tmp, "rockstar")
	e.hello = filepath.Join(e.tmp, "fasthttp-hello")
	builds := [][2]string{{e.rockstar, "./cmd/rockstar"}, {e.hello, "./bench/servers/fasthttp-hello"}}
	if bin := os.Getenv("BENCH_ROCKSTAR"); bin != "" {
		// A given build, to compare two of them.
		if e.rockstar, err = filepath.Abs(bin); err != nil {
			logf("%v", err)
			return 1
		}
		builds = builds[1:]
	}
	logf("building %s", strings.Join(func() []string {
		var pkgs []string
		for _, b := range builds {
			pkgs = append(pkgs, b[1])
		}
		return pkgs
	}(), " and "))
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			logf("go build %s: %v\n%s", b[1], err, out)
			return 1
		}
	}

	res := &results{Started: time.Now(), Settings: s, Machine: machineInfo(goTool, e), NofileLimit: nofile}
	res.Machine.LoadBefore = loadAvg()
	logf("load average before: %s", res.Machine.LoadBefore)
	plan := newPlan(s)

	err = e.pass(ctx, res, plan, wrk, false)
	if err == nil && s.Pinned {
		err = e.pass(ctx, res, plan, wrk, true)
	}
	if err == nil && s.Extras {
		res.Extras, err = e.extras(ctx, plan, s)
	}
	res.Machine.LoadAfter = loadAvg()
	e.procs.stopAll()
	if err != nil {
		if ctx.Err() != nil {
			logf("interrupted; every process it started is stopped")
			return 130
		}
		logf("%v", err)
		return 1
	}
	logf("load average after: %s", res.Machine.LoadAfter)

	res.summarize()
	if err := res.write(s.out); err != nil {
		logf("%v", err)
		return 1
	}
	res.print(os.Stdout)
	return 0
}

func readSettings() (settings, error) {
	s := settings{Duration: 5 * time.Second, Rounds: 5, Threads: 1, Connections: 64,
		Pinned: true, Extras: true, IdleConns: 10_000, ReloadHosts: 1000, out: filepath.Join("bench", "results")}
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		if _, err := strconv.Atoi(v); err == nil {
			v += "s" // plain seconds
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return s, fmt.Errorf("BENCH_DURATION=%q: want a duration of at least 1s, like 5s", v)
		}
		s.Duration = d.Round(time.Second)
	}
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("BENCH_ROUNDS=%q: want a whole number of at least 1", v)
		}
		s.Rounds = n
	}
	s.Pinned = os.Getenv("BENCH_PINNED") != "0"
	s.Extras = os.Getenv("BENCH_EXTRAS") != "0"
	s.Servers = serversFor(os.Getenv("BENCH_NGINX_REUSEPORT") == "1")
	if v := os.Getenv("BENCH_OUT"); v != "" {
		s.out = v
	}
	s.DurationStr = s.Duration.String()
	return s, nil
}

// repoRoot is the directory of go.mod, found from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("run it from the repository (no go.mod found above the working directory)")
		}
		dir = up
	}
}

// raiseNofile raises this process's open-file limit, which the servers
// inherit, to at least want if it can (the hard limit bounds it unless this
// runs as root), and returns the limit in force.
func raiseNofile(want int) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Max < uint64(want) {
		try := syscall.Rlimit{Cur: uint64(want), Max: uint64(want)}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return try.Cur
		}
	}
	// Setting it, even to the hard limit Go already raised the soft one to,
	// makes children inherit it instead of the limit this program started with.
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

// plan tracks the work left, for the progress lines.
type plan struct {
	s       settings
	runs    int // wrk runs left, measured and warm-ups
	extrasS float64
}

const (
	runOverhead = 600 * time.Millisecond // start, samples and the pause around a run
	startCost   = 2 * time.Second        // starting the four servers of a pass
	warmup      = time.Second
)

func newPlan(s settings) *plan {
	passes := 1
	if s.Pinned {
		passes++
	}
	p := &plan{s: s, runs: passes * len(s.Servers) * (s.Rounds + 1)}
	if s.Extras {
		p.extrasS = 45
	}
	return p
}

// left is the estimated time until the end.
func (p *plan) left() time.Duration {
	per := p.s.Duration + runOverhead
	d := time.Duration(p.runs)*per + time.Duration(p.extrasS*float64(time.Second))
	return d.Round(time.Second)
}

// pass starts the four servers, unpinned or pinned, warms each up, runs
// the rounds, and stops them.
func (e *env) pass(ctx context.Context, res *results, pl *plan, wrk string, pinned bool) error {
	name, srvCPU, wrkCPU, rsWorkers, ngWorkers := "unpinned", "", "", `"auto"`, "auto"
	if pinned {
		name, srvCPU, wrkCPU, rsWorkers, ngWorkers = "pinned", "0", "1", "1", "1"
	}
	logf("[%s] starting the servers", name)
	servers := make([]*running, 0, len(res.Settings.Servers))
	defer func() {
		for _, r := range servers {
			e.procs.stop(r.p, 5*time.Second)
		}
	}()
	for _, n := range res.Settings.Servers {
		var r *running
		var err error
		switch n {
		case nameRockstar:
			var took time.Duration
			r, took, err = e.startRockstar(ctx, name, srvCPU, rsWorkers, 0)
			if err == nil {
				res.Extras.addStartup(took)
			}
		case nameNginx, nameNginxReuse:
			r, err = e.startNginx(ctx, n, name, srvCPU, ngWorkers)
		case nameFasthttp:
			r, err = e.startHello(ctx, nameFasthttp, name, srvCPU, false)
		case namePrefork:
			r, err = e.startHello(ctx, namePrefork, name, srvCPU, true)
		}
		if err != nil {
			return fmt.Errorf("[%s] %s: %w", name, n, err)
		}
		servers = append(servers, r)
	}
	for _, r := range servers {
		logf("[%s] warm-up  %-16s %s  (about %s left)", name, r.name, warmup, pl.left())
		if _, out, err := e.runWrk(ctx, wrk, wrkCPU, r.url(), res.Settings.Connections, warmup); err != nil {
			return fmt.Errorf("[%s] warm-up %s: %w\n%s", name, r.name, err, out)
		}
		pl.runs--
	}
	for round := 1; round <= res.Settings.Rounds; round++ {
		for _, r := range servers {
			if r.p.exited() {
				return fmt.Errorf("[%s] %s exited: %v", name, r.name, r.p.err)
			}
			logf("[%s] round %d/%d  %-16s %s  (about %s left)", name, round, res.Settings.Rounds, r.name, res.Settings.Duration, pl.left())
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
			cpu0, procs0 := treeCPU(r.p.pid())
			w, out, err := e.runWrk(ctx, wrk, wrkCPU, r.url(), res.Settings.Connections, res.Settings.Duration)
			cpu1, procs1 := treeCPU(r.p.pid())
			pl.runs--
			if err != nil {
				return fmt.Errorf("[%s] %s round %d: %w", name, r.name, round, err)
			}
			rec := runRecord{Pass: name, Round: round, Server: r.name, wrkResult: w,
				CPUus: float64(cpu1-cpu0) / float64(time.Microsecond), Busiest: busiestShare(procs0, procs1)}
			rec.CPUusPerReq = rec.CPUus / float64(w.Requests)
			res.Runs = append(res.Runs, rec)
			logf("[%s] round %d/%d  %-16s %8.0f req/s  p50 %s  p99 %s  errors %d  cpu %.2f µs/req  busiest process %.0f%%",
				name, round, res.Settings.Rounds, r.name, w.ReqPerSec, us(w.P50us), us(w.P99us), w.Errors, rec.CPUusPerReq, 100*rec.Busiest)
			_ = out
		}
	}
	if !pinned {
		// Metrics are on: check that Rockstar's counted what it served.
		for _, r := range servers {
			if r.name == nameRockstar {
				res.MetricsSample = e.metricsSample(r)
			}
		}
	}
	return nil
}

// us formats microseconds for a table.
func us(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fms", v/1000)
	}
	return fmt.Sprintf("%.0fµs", v)
}

// loadAvg is /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// machineInfo describes the machine for the results.
func machineInfo(goTool string, e *env) machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(goTool, "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(e.nginx, "-v").CombinedOutput(); err == nil {
		m.Nginx = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}
