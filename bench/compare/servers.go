package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// helloBody is what every server answers.
const helloBody = "Hello, World!"

// Server names, in the order of a round.
const (
	nameRockstar = "rockstar"
	nameNginx    = "nginx"
	nameFasthttp = "fasthttp"
	namePrefork  = "fasthttp-prefork"
	// nameNginxReuse is nginx with `listen ... reuseport`, one socket per
	// worker as Rockstar has; only with BENCH_NGINX_REUSEPORT=1.
	nameNginxReuse = "nginx-reuseport"
)

var serverOrder = []string{nameRockstar, nameNginx, nameFasthttp, namePrefork}

// serversFor is serverOrder, with nginx-reuseport last when asked for.
func serversFor(reuseport bool) []string {
	if reuseport {
		return append(append([]string(nil), serverOrder...), nameNginxReuse)
	}
	return append([]string(nil), serverOrder...)
}

// running is one server under test.
type running struct {
	name  string
	port  int
	p     *proc
	log   *logWatch // Rockstar only
	admin int       // Rockstar only: the admin endpoint's port
	dir   string    // Rockstar only: its config directory
}

func (r *running) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", r.port) }

// env is what starting a server needs.
type env struct {
	procs    *procTable
	tmp      string // temporary directory, removed at the end
	rockstar string // built binaries
	hello    string
	nginx    string
	taskset  string
}

// pinArgs prefixes args with taskset when cpu is not empty.
func (e *env) pinArgs(cpu string, args ...string) []string {
	if cpu == "" {
		return args
	}
	return append([]string{e.taskset, "-c", cpu}, args...)
}

// freePort returns a loopback TCP port that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// rockstarConfig is a config for `rockstar run`: respond hosts answering
// helloBody (127.0.0.1 and localhost, which wrk's Host header names, and
// one more), all in a tenant whose rate limit is far too high to trigger;
// the admin endpoint (and so /metrics) on; the access log off.
func rockstarConfig(dir string, port, adminPort int, workers string, extraHosts int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[supervisor]
workers = %s
control_socket = %q
pid_file = %q
shutdown_timeout = "5s"

[log]
level = "info"
# access_log is off by default

[admin]
listen = "127.0.0.1:%d"

[[server]]
listen = "127.0.0.1:%d"
protocols = ["http1"]
`, workers, filepath.Join(dir, "rockstar.sock"), filepath.Join(dir, "rockstar.pid"), adminPort, port)
	hosts := []string{"127.0.0.1", "localhost", "hello.bench"}
	for i := range extraHosts {
		hosts = append(hosts, bulkHost(i))
	}
	for _, h := range hosts {
		fmt.Fprintf(&b, "\n[[host]]\nhostname = %q\ntenant = \"bench\"\nrespond = %q\n", h, helloBody)
	}
	quoted := make([]string, len(hosts))
	for i, h := range hosts {
		quoted[i] = strconv.Quote(h)
	}
	fmt.Fprintf(&b, `
[[tenant]]
id = "bench"
hosts = [%s]
# Far above anything wrk can send: the limiter runs on every request and
# never refuses.
rate_limit = { requests_per_second = 1e9, burst = 1000000000 }
`, strings.Join(quoted, ", "))
	return b.String()
}

// bulkHost names the i-th generated host of the reload test.
func bulkHost(i int) string { return fmt.Sprintf("host-%04d.bench", i) }

// startRockstar runs `rockstar run` on a fresh config in its own directory
// and waits for the master's ready line; it returns the time that took.
func (e *env) startRockstar(ctx context.Context, tag, cpu, workers string, extraHosts int) (*running, time.Duration, error) {
	dir := filepath.Join(e.tmp, "rockstar-"+tag)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	cfg := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(cfg, []byte(rockstarConfig(dir, port, admin, workers, extraHosts)), 0o644); err != nil {
		return nil, 0, err
	}
	logFile, err := os.Create(filepath.Join(dir, "rockstar.log"))
	if err != nil {
		return nil, 0, err
	}
	lw := newLogWatch(logFile)
	t0 := time.Now()
	p, err := e.procs.start(nameRockstar, e.pinArgs(cpu, e.rockstar, "run", "-c", cfg, "--log-format", "json"), lw)
	if err != nil {
		return nil, 0, err
	}
	r := &running{name: nameRockstar, port: port, p: p, log: lw, admin: admin, dir: dir}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at, err := lw.waitFor(wctx, p, "ready", 0)
	if err != nil {
		e.procs.stop(p, 5*time.Second)
		b, _ := os.ReadFile(logFile.Name())
		return nil, 0, fmt.Errorf("rockstar did not get ready: %w; its log:\n%s", err, b)
	}
	if err := waitHello(ctx, r); err != nil {
		e.procs.stop(p, 5*time.Second)
		return nil, 0, err
	}
	return r, at.Sub(t0), nil
}

// nginxConfig is nginx's side: `return 200` with the same body, the access
// log off, every path under dir. keepalive_requests is raised so that, as
// with the Go servers, wrk's connections are never closed by the server.
func nginxConfig(dir string, port int, workers string, reuseport bool) string {
	listen := strconv.Itoa(port)
	if reuseport {
		listen += " reuseport"
	}
	return fmt.Sprintf(`worker_processes %s;
worker_rlimit_nofile 20000;
pid %s;
error_log %s warn;
events { worker_connections 16384; }
http {
    access_log off;
    default_type "text/plain; charset=utf-8";
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:%s;
        location / { return 200 %q; }
    }
}
`, workers, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"), listen, helloBody)
}

// startNginx runs nginx as name: nameNginx, or nameNginxReuse with one
// reuseport socket per worker.
func (e *env) startNginx(ctx context.Context, name, tag, cpu, workers string) (*running, error) {
	dir := filepath.Join(e.tmp, name+"-"+tag)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, port, workers, name == nameNginxReuse)), 0o644); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	args := e.pinArgs(cpu, e.nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	p, err := e.procs.start(name, args, out)
	if err != nil {
		return nil, err
	}
	r := &running{name: name, port: port, p: p}
	if err := waitHello(ctx, r); err != nil {
		e.procs.stop(p, 5*time.Second)
		return nil, fmt.Errorf("%w (see %s)", err, filepath.Join(dir, "error.log"))
	}
	return r, nil
}

func (e *env) startHello(ctx context.Context, name, tag, cpu string, prefork bool) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(e.tmp, name+"-"+tag+".log"))
	if err != nil {
		return nil, err
	}
	args := []string{e.hello, "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	if prefork {
		args = append(args, "-prefork")
	}
	p, err := e.procs.start(name, e.pinArgs(cpu, args...), out)
	if err != nil {
		return nil, err
	}
	r := &running{name: name, port: port, p: p}
	if err := waitHello(ctx, r); err != nil {
		e.procs.stop(p, 5*time.Second)
		return nil, err
	}
	if prefork {
		// The first child to listen answers; give the others a moment.
		_ = sleep(ctx, 300*time.Millisecond)
	}
	return r, nil
}

// waitHello waits, up to 15 s, until r answers GET / with helloBody.
func waitHello(ctx context.Context, r *running) error {
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if r.p.exited() {
			return fmt.Errorf("%s exited: %v", r.name, r.p.err)
		}
		body, err := get(r.port, "127.0.0.1")
		if err == nil && body == helloBody {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("body %q, want %q", body, helloBody)
		}
		last = err
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s on port %d did not answer: %v", r.name, r.port, last)
}

// get sends one GET / with the given Host header and returns the body of a
// 200 answer.
func get(port int, host string) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return "", err
	}
	status, body, err := readResponse(bufio.NewReader(c))
	if err != nil {
		return "", err
	}
	if status != 200 {
		return "", fmt.Errorf("status %d", status)
	}
	return string(body), nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length.
func readResponse(br *bufio.Reader) (int, []byte, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(f[1])
	n := -1
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		return 0, nil, fmt.Errorf("no Content-Length")
	}
	body := make([]byte, n)
	_, err = io.ReadFull(br, body)
	return status, body, err
}

// logWatch reads Rockstar's JSON log lines, copies them to a file, and lets
// the program wait for a given message, timed when its line arrived.
type logWatch struct {
	file *os.File
	mu   sync.Mutex
	part []byte
	msgs []logMsg
	more chan struct{} // closed and replaced on every new message
}

type logMsg struct {
	at      time.Time
	message string
	err     string
}

func newLogWatch(f *os.File) *logWatch { return &logWatch{file: f, more: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	now := time.Now()
	_, _ = w.file.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		var m struct {
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(w.part[:i], &m) == nil && m.Message != "" {
			w.msgs = append(w.msgs, logMsg{at: now, message: m.Message, err: m.Error})
			close(w.more)
			w.more = make(chan struct{})
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

// count is how many messages have arrived.
func (w *logWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// waitFor waits for a message equal to msg among those from index from
// on, and returns when its line arrived. It fails early on a "reload
// failed" line or when p exits.
func (w *logWatch) waitFor(ctx context.Context, p *proc, msg string, from int) (time.Time, error) {
	for {
		w.mu.Lock()
		for _, m := range w.msgs[min(from, len(w.msgs)):] {
			if m.message == msg {
				w.mu.Unlock()
				return m.at, nil
			}
			if strings.HasPrefix(m.message, "reload failed") {
				w.mu.Unlock()
				return time.Time{}, fmt.Errorf("%s: %s", m.message, m.err)
			}
		}
		more := w.more
		w.mu.Unlock()
		select {
		case <-more:
		case <-p.done:
			return time.Time{}, fmt.Errorf("rockstar exited: %v", p.err)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
