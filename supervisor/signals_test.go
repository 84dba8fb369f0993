package supervisor_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// filesConfig follows configHead: hello.test (a fixed body) and
// files.test (the static directory %q).
const filesConfig = `
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "hello.test"
tenant = "demo"
respond = "hello"

[[host]]
hostname = "files.test"
tenant = "demo"
root = %q

[[tenant]]
id = "demo"
hosts = ["hello.test", "files.test"]
`

// bigFile is the size of the static file a slow reader downloads: far more
// than the kernel buffers between the worker and a client with a small
// receive buffer, so the response is in flight until the client reads it.
const bigFile = 16 << 20

// startFilesMaster runs a master with a static site holding big.bin.
func startFilesMaster(t *testing.T, workers int, logLine string) *master {
	t.Helper()
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "big.bin"), bytes.Repeat([]byte("x"), bigFile), 0o644); err != nil {
		t.Fatal(err)
	}
	return startMaster(t, configHead(workers, "debug", logLine)+fmt.Sprintf(filesConfig, site))
}

// slowDownload starts GET /big.bin on a connection with a small receive
// buffer and reads its first bytes only: the worker is then busy writing
// the response, blocked on the client. It returns the connection, a reader
// positioned after the headers, and the announced length.
func slowDownload(t *testing.T, addr string) (net.Conn, *bufio.Reader, int64) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: files.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 4<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != bigFile {
		t.Fatalf("GET /big.bin: %s, length %d", resp.Status, resp.ContentLength)
	}
	if _, err := io.CopyN(io.Discard, r, 64<<10); err != nil {
		t.Fatal(err)
	}
	return c, r, bigFile - 64<<10
}

// assertStopped checks what a stopped master leaves behind: it exited 0
// within d of since, logged "stopped" with graceful as asked, and its
// workers, control socket and pid file are gone.
func assertStopped(t *testing.T, m *master, workers []int, graceful bool, since time.Time, d time.Duration) time.Duration {
	t.Helper()
	select {
	case <-m.exited:
	case <-time.After(time.Until(since.Add(d))):
		t.Fatalf("the master did not exit within %s", d)
	}
	took := time.Since(since)
	if code := m.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the master exited with %d, want 0", code)
	}
	// The master has exited, but its last lines may still be in the pipe
	// that the harness copies from.
	m.logs.wait(t, "stopped", 5*time.Second)
	stopped := m.logs.find("stopped")
	if len(stopped) != 1 || stopped[0]["graceful"] != graceful {
		t.Errorf("\"stopped\" lines %v, want one with graceful=%v", stopped, graceful)
	}
	for _, pid := range workers {
		if alive(pid) {
			t.Errorf("worker %d outlived its master", pid)
		}
	}
	for _, f := range []string{m.sock, filepath.Join(m.dir, "run", "rockstar.pid")} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the master exited (%v)", f, err)
		}
	}
	return took
}

// TERM and INT stop at once: the master exits within a few seconds even
// while a response is in flight, and leaves nothing behind.
func TestSignalFastStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			m := startFilesMaster(t, 2, "")
			workers := m.waitWorkers(2, 10*time.Second)
			if _, err := os.Stat(m.sock); err != nil {
				t.Fatal(err)
			}
			c, r, _ := slowDownload(t, m.addr) // stalled: never read further until the stop
			sent := time.Now()
			m.signal(sig)
			took := assertStopped(t, m, workers, false, sent, 4*time.Second)
			t.Logf("%s: the master exited after %s", sig, took.Round(time.Millisecond))
			// The stalled download was cut short.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := io.Copy(io.Discard, r); err == nil && n >= bigFile-64<<10 {
				t.Errorf("the in-flight download completed (%d bytes) after a fast stop", n)
			}
		})
	}
}

// QUIT stops gracefully: a response in flight is finished before the
// master exits, and the master waits for it.
func TestSignalGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startFilesMaster(t, 2, "")
	workers := m.waitWorkers(2, 10*time.Second)
	c, r, rest := slowDownload(t, m.addr)
	sent := time.Now()
	m.signal(syscall.SIGQUIT)
	m.logs.wait(t, "signal", 5*time.Second)
	// The stop has begun once the control socket stops answering.
	waitFor(t, "the control socket to close", 5*time.Second, func() bool {
		cc, err := net.DialTimeout("unix", m.sock, time.Second)
		if err == nil {
			cc.Close()
		}
		return err != nil
	})
	// While the client stalls, the master waits (the workers' drain grace
	// is 1s; shutdown_timeout is 5s).
	select {
	case <-m.exited:
		t.Fatalf("the master exited %s after QUIT with a response in flight", time.Since(sent))
	case <-time.After(1500 * time.Millisecond):
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != rest {
		t.Errorf("the in-flight download got %d of %d more bytes: %v", n, rest, err)
	}
	took := assertStopped(t, m, workers, true, sent, 10*time.Second)
	t.Logf("QUIT: the master exited %s after the signal", took.Round(time.Millisecond))
}

// USR1 reopens the access log: after a rotation by rename, new requests
// land in a new file at the configured path.
func TestSignalReopenLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startFilesMaster(t, 2, `access_log = "access.log"`)
	m.waitWorkers(2, 10*time.Second)
	logPath := filepath.Join(m.dir, "access.log")
	rotated := logPath + ".1"

	const n = 20
	for i := 0; i < n; i++ {
		getClose(t, m.addr, "hello.test")
	}
	waitFor(t, fmt.Sprintf("%d lines in access.log", n), 5*time.Second, func() bool { return countLines(logPath) == n })
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	m.signal(syscall.SIGUSR1)
	m.logs.wait(t, "log files reopened", 10*time.Second)
	for i := 0; i < n; i++ {
		getClose(t, m.addr, "hello.test")
	}
	waitFor(t, fmt.Sprintf("%d lines in the new access.log", n), 5*time.Second, func() bool { return countLines(logPath) == n })
	if got := countLines(rotated); got != n {
		t.Errorf("the rotated log has %d lines, want the %d from before USR1", got, n)
	}
	if len(m.logs.find("reopen logs")) != 0 {
		t.Errorf("a worker failed to reopen its log: %v", m.logs.find("reopen logs"))
	}
}

// getClose sends one request on a connection of its own (so requests
// spread over the workers) and requires a 200.
func getClose(t *testing.T, addr, host string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	req.Close = true
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", host, resp.Status)
	}
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return bytes.Count(b, []byte("\n"))
}

// TTOU removes a worker but never the last one.
func TestSignalTTOUKeepsOneWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	m.waitWorkers(2, 10*time.Second)
	m.signal(syscall.SIGTTOU)
	m.logs.wait(t, "old generation drained", 20*time.Second)
	last := m.waitWorkers(1, 10*time.Second)
	for i := 1; i <= 2; i++ {
		m.signal(syscall.SIGTTOU)
		refused := m.logs.waitN(t, "not removing the last worker", i, 10*time.Second)
		if refused["workers"] != float64(1) {
			t.Errorf("refusal line %v, want workers 1", refused)
		}
	}
	if got := m.waitWorkers(1, time.Second); !samePIDs(got, last) {
		t.Errorf("workers %v after TTOU at one worker, want %v", got, last)
	}
	if n := len(m.logs.find("old generation drained")); n != 1 {
		t.Errorf("%d generations drained, want 1", n)
	}
	if code, body, err := m.get("hello.test", "/"); err != nil || code != 200 || body != "hello" {
		t.Fatalf("after TTOU at one worker: %d %q %v", code, body, err)
	}
}

// With stop_signal_graceful = true, TERM drains as QUIT does: under load
// from several clients, with downloads in flight, not one request fails,
// every download is finished, and the master exits 0 within
// shutdown_timeout.
func TestSignalTermGraceful(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "big.bin"), bytes.Repeat([]byte("x"), bigFile), 0o644); err != nil {
		t.Fatal(err)
	}
	head := strings.Replace(configHead(2, "debug", ""), "shutdown_timeout = \"5s\"\n",
		"shutdown_timeout = \"5s\"\nstop_signal_graceful = true\n", 1)
	m := startMaster(t, head+fmt.Sprintf(filesConfig, site))
	workers := m.waitWorkers(2, 10*time.Second)
	type download struct {
		r    *bufio.Reader
		rest int64
	}
	var downloads []download
	for range 3 {
		_, r, rest := slowDownload(t, m.addr)
		downloads = append(downloads, download{r, rest})
	}
	live, stop := startLoad(m.addr, "hello.test", "GET", 8, 60*time.Second)
	live.served(t, 300)
	sent := time.Now()
	m.signal(syscall.SIGTERM)
	res := stop() // each client finishes the request it has in flight, and sends no more
	if res.OK.Load() == 0 || res.failures() != 0 {
		t.Errorf("the load around TERM: %s, want no failure", res)
	}
	for i, d := range downloads {
		n, err := io.Copy(io.Discard, d.r)
		if err != nil || n != d.rest {
			t.Errorf("download %d got %d of %d more bytes after TERM: %v", i, n, d.rest, err)
		}
	}
	took := assertStopped(t, m, workers, true, sent, 5*time.Second)
	t.Logf("TERM (graceful): the master exited %s after the signal; load %s", took.Round(time.Millisecond), res)
}
