package supervisor_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// redisServer is a redis-server of the test's own on a loopback port.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// redisPath is the redis-server the tests run: $ROCKSTAR_REDIS_SERVER, or
// redis-server on $PATH. Missing, the test fails under CI (.ci/run
// installs it) and is skipped elsewhere.
func redisPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ROCKSTAR_REDIS_SERVER")
	if p == "" {
		var err error
		if p, err = exec.LookPath("redis-server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("redis-server is not installed, and CI is set: .ci/run installs it (apt redis-server)")
			}
			t.Skip("redis-server is not installed (apt install redis-server); skipping the tests that need Redis")
		}
	}
	return p
}

// startRedis starts redis-server on a free loopback port.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &redisServer{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs the server (again, on the same port) and waits until it answers PING.
func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(redisPath(r.t), "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	cmd, done := r.cmd, r.done
	go func() { // ends with the process; stop waits for it
		_ = cmd.Wait()
		close(done)
	}()
	waitFor(r.t, "redis-server to answer PING", 10*time.Second, func() bool { return r.ping() })
}

func (r *redisServer) ping() bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// stop kills the server by its pid and waits for it to exit.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func netDial(r *redisServer) (net.Conn, error) {
	return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
}
