package worker

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lockedBuffer is an io.Writer safe for the server's goroutines and the test's.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(b.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestAccessLogOffByDefault(t *testing.T) {
	var logs lockedBuffer
	sm := NewServerManager()
	sm.SetLogger(zerolog.New(&logs).Level(zerolog.TraceLevel))
	t.Cleanup(func() { _ = sm.StopAll() })
	r := NewRouter()
	r.GET("/hello", text("hi"))
	_, addr := start(t, sm, ServerConfig{}, r)
	for range 3 {
		get(t, addr, "a.test", "/hello")
	}
	exchange(t, addr, "GARBAGE\r\n\r\n", 5*time.Second)
	for _, line := range logs.lines() {
		if strings.Contains(line, "/hello") || strings.Contains(line, `"status"`) {
			t.Errorf("a request was logged with the access log off: %s", line)
		}
	}
}

func TestAccessLogOneLinePerRequest(t *testing.T) {
	var logs lockedBuffer
	sm := quietManager(t)
	r := NewRouter()
	r.Host("app.test").GET("/hello", text("hello"))
	if err := sm.RegisterHost("app.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterTenant("acme", []string{"app.test"}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{AccessLog: &logs, MaxRequestSize: 10}, r)

	// A raw connection, so that the client's own address is known.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	reqs := "GET /hello?q=1 HTTP/1.1\r\nHost: app.test\r\n\r\n" +
		"DELETE /hello HTTP/1.1\r\nHost: app.test\r\n\r\n" +
		"GET /nowhere HTTP/1.1\r\nHost: other.test\r\n\r\n" +
		"POST /hello HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\n"
	if _, err := c.Write([]byte(reqs)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 access log lines", 5*time.Second, func() bool { return len(logs.lines()) >= 4 })

	type entry struct {
		Host     string   `json:"host"`
		Tenant   string   `json:"tenant"`
		Method   string   `json:"method"`
		Path     string   `json:"path"`
		Status   int      `json:"status"`
		Bytes    *int     `json:"bytes"`
		Duration *float64 `json:"duration"`
		Remote   string   `json:"remote"`
	}
	want := []entry{
		{Host: "app.test", Tenant: "acme", Method: "GET", Path: "/hello", Status: 200},
		{Host: "app.test", Tenant: "acme", Method: "DELETE", Path: "/hello", Status: 405},
		{Host: "other.test", Tenant: "", Method: "GET", Path: "/nowhere", Status: 404},
		{Host: "app.test", Tenant: "acme", Method: "POST", Path: "/hello", Status: 413},
	}
	lines := logs.lines()
	if len(lines) != len(want) {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		var got entry
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, line)
		}
		w := want[i]
		if got.Host != w.Host || got.Tenant != w.Tenant || got.Method != w.Method || got.Path != w.Path || got.Status != w.Status {
			t.Errorf("line %d = %s\nwant host %q tenant %q method %s path %s status %d", i, line, w.Host, w.Tenant, w.Method, w.Path, w.Status)
		}
		if got.Bytes == nil || *got.Bytes < 0 || got.Duration == nil || *got.Duration < 0 {
			t.Errorf("line %d: bytes and duration missing or negative: %s", i, line)
		}
		if got.Remote != c.LocalAddr().String() {
			t.Errorf("line %d: remote %q, want the client's %s", i, got.Remote, c.LocalAddr())
		}
	}
	if len(lines) > 0 && !strings.Contains(lines[0], `"bytes":5`) {
		t.Errorf("first line does not count the 5-byte body: %s", lines[0])
	}
}
