package supervisor_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The cluster tests run a real redis-server (Debian's redis-server
// package; .ci/run installs it) on a loopback port, in a temp dir,
// without persistence, and stop it by pid.

// redisServerBin is $ROCKSTAR_REDIS_SERVER (a path there that is not there
// fails the test), else redis-server on PATH; the test skips without one
// unless CI is set.
func redisServerBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server and the real binary")
	}
	if p := os.Getenv("ROCKSTAR_REDIS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("ROCKSTAR_REDIS_SERVER: %v", err)
		}
		return p
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("redis-server is not installed and CI is set: .ci/run installs it (apt-get install redis-server)")
	}
	t.Skip("redis-server is not installed: apt-get install redis-server (.ci/run does this), or set ROCKSTAR_REDIS_SERVER")
	return ""
}

// redisServer is a running redis-server.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis runs redis-server on a free loopback port until the test ends.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisServerBin(t), dir: t.TempDir(), port: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// URL is the server's redis:// URL.
func (r *redisServer) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

// start runs the server (again) on its port and waits until it answers.
func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	cmd, done := r.cmd, r.done
	go func() { // ends when the server exits; stop waits for it
		_ = cmd.Wait()
		close(done)
	}()
	waitFor(r.t, "redis-server to answer PING", 10*time.Second, func() bool { return r.ping() })
}

// ping reports whether the server answers PING.
func (r *redisServer) ping() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 16)
	n, _ := c.Read(b)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// kill stops the server at once (SIGKILL, by pid), as a crash would, and
// waits until it is gone.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Errorf("redis-server %d did not exit", r.cmd.Process.Pid)
	}
	r.cmd = nil
}

func (r *redisServer) stop() { r.kill() }
