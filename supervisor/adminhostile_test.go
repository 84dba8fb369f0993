package supervisor_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// adminConfig is configText(1) with more lines in [admin].
func adminConfig(extra string) string {
	return strings.Replace(configText(1, "hello"), "[admin]\nlisten = \"127.0.0.1:0\"\n",
		"[admin]\nlisten = \"127.0.0.1:0\"\n"+extra, 1)
}

// adminRequest sends one GET with the given Host on c and reads the answer.
func adminRequest(t *testing.T, c net.Conn, br *bufio.Reader, host, path string) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func dialAdmin(t *testing.T, admin string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", admin, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// The admin endpoint answers a Host that names it (an IP address,
// localhost or a name of admin.hosts, with or without the port) and 421 to
// any other name, which is what a page whose DNS name was rebound to
// 127.0.0.1 sends.
func TestAdminRefusesForeignHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, adminConfig("hosts = [\"Status.Test\"]\n"))
	_, port, _ := net.SplitHostPort(m.admin)
	for _, tc := range []struct {
		host string
		want int
	}{
		{m.admin, 200},
		{"127.0.0.1", 200},
		{"localhost:" + port, 200},
		{"LOCALHOST", 200},
		{"[::1]:" + port, 200},
		{"[::1]", 200},
		{"status.test:" + port, 200},
		{"STATUS.test.", 200},
		{"other.status.test", http.StatusMisdirectedRequest},
		{"rebound.example:" + port, http.StatusMisdirectedRequest},
		{"rebound.example", http.StatusMisdirectedRequest},
		{"localhost.rebound.example", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:" + port, http.StatusMisdirectedRequest},
	} {
		for _, path := range []string{"/status", "/metrics"} {
			c, br := dialAdmin(t, m.admin)
			code, body := adminRequest(t, c, br, tc.host, path)
			if code != tc.want {
				t.Errorf("GET %s with Host %q: %d, want %d", path, tc.host, code, tc.want)
			}
			if code != 200 && (strings.Contains(body, "workers") || strings.Contains(body, "rockstar_")) {
				t.Errorf("GET %s with Host %q: refused, but the body has the data: %.100q", path, tc.host, body)
			}
			c.Close()
		}
	}
}

// A keep-alive connection idle after one request is closed after
// admin.idle_timeout; before it was kept open for good.
func TestAdminClosesIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, adminConfig("idle_timeout = \"300ms\"\n"))
	c, br := dialAdmin(t, m.admin)
	if code, _ := adminRequest(t, c, br, "127.0.0.1", "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	answered := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := br.Read(make([]byte, 1))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection: read %d bytes, %v; want it closed by the server", n, err)
	}
	if d := time.Since(answered); d < 200*time.Millisecond {
		t.Errorf("closed %s after the answer, before the idle timeout", d)
	}
}

// At most admin.max_connections are served at once: a third connection
// past a limit of two is not answered while two are held open, and is
// answered as soon as one of them closes.
func TestAdminConnectionLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, adminConfig("max_connections = 2\n"))
	var held []net.Conn
	for range 2 {
		c, br := dialAdmin(t, m.admin)
		if code, _ := adminRequest(t, c, br, "127.0.0.1", "/healthz"); code != 200 {
			t.Fatalf("/healthz: %d", code)
		}
		held = append(held, c)
	}
	third, br := dialAdmin(t, m.admin) // the kernel completes the handshake
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// A bounded look for an answer that must not come.
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection past the limit of 2: %v, want no answer yet", err)
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v %v, want 200", resp, err)
	}
	resp.Body.Close()
}
