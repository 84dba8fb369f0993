package worker

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
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

	want := []accessJSON{
		{Host: "app.test", Tenant: "acme", Method: "GET", Path: "/hello", Query: "q=1", Status: 200, BodyBytesSent: 5},
		{Host: "app.test", Tenant: "acme", Method: "DELETE", Path: "/hello", Status: 405},
		{Host: "other.test", Tenant: "", Method: "GET", Path: "/nowhere", Status: 404},
		{Host: "app.test", Tenant: "acme", Method: "POST", Path: "/hello", Status: 413},
	}
	lines := logs.lines()
	if len(lines) != len(want) {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		got := decodeAccessJSON(t, line)
		w := want[i]
		if got.Host != w.Host || got.Tenant != w.Tenant || got.Method != w.Method || got.Path != w.Path ||
			got.Query != w.Query || got.Status != w.Status || (w.BodyBytesSent != 0 && got.BodyBytesSent != w.BodyBytesSent) {
			t.Errorf("line %d = %s\nwant %+v", i, line, w)
		}
		if got.BodyBytesSent < 0 || got.RequestTime < 0 || got.UpstreamResponseTime != nil {
			t.Errorf("line %d: body_bytes_sent or request_time negative, or an upstream time without a proxy: %s", i, line)
		}
		if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); got.RemoteAddr != ip {
			t.Errorf("line %d: remote_addr %q, want the client's %s", i, got.RemoteAddr, ip)
		}
		if got.Protocol != "HTTP/1.1" || got.RemoteUser != "-" || !ValidRequestID([]byte(got.RequestID)) {
			t.Errorf("line %d: protocol %q, remote_user %q, request_id %q", i, got.Protocol, got.RemoteUser, got.RequestID)
		}
	}
}

// accessJSON is a JSON access log line, with the one type each field has.
type accessJSON struct {
	Time                 string   `json:"time"`
	RemoteAddr           string   `json:"remote_addr"`
	RemoteUser           string   `json:"remote_user"`
	RequestID            string   `json:"request_id"`
	Method               string   `json:"method"`
	Path                 string   `json:"path"`
	Query                string   `json:"query"`
	Protocol             string   `json:"protocol"`
	Status               int      `json:"status"`
	BodyBytesSent        int      `json:"body_bytes_sent"`
	Referer              string   `json:"http_referer"`
	UserAgent            string   `json:"http_user_agent"`
	Host                 string   `json:"host"`
	VHost                string   `json:"vhost"`
	Tenant               string   `json:"tenant"`
	RequestTime          float64  `json:"request_time"`
	UpstreamResponseTime *float64 `json:"upstream_response_time"`
}

// decodeAccessJSON decodes line strictly: no unknown field, every field
// of its type, and all but upstream_response_time present.
func decodeAccessJSON(t *testing.T, line string) accessJSON {
	t.Helper()
	var got accessJSON
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("access log line does not decode strictly: %v: %s", err, line)
	}
	var fields map[string]any
	_ = json.Unmarshal([]byte(line), &fields)
	for _, k := range []string{"time", "remote_addr", "remote_user", "request_id", "method", "path", "query", "protocol",
		"status", "body_bytes_sent", "http_referer", "http_user_agent", "host", "vhost", "tenant", "request_time"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("access log line lacks %q: %s", k, line)
		}
	}
	if _, err := time.Parse(time.RFC3339, got.Time); err != nil {
		t.Errorf("time %q: %v", got.Time, err)
	}
	return got
}

// combinedRe is nginx's combined format,
// $remote_addr - $remote_user [$time_local] "$request" $status
// $body_bytes_sent "$http_referer" "$http_user_agent", as log parsers
// read it; Rockstar's own fields follow.
var combinedRe = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (HTTP/[0-9.]+)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"` +
	` host="([^"]*)" vhost="([^"]*)" tenant="([^"]*)" request_id="([^"]*)" request_time=(\d+\.\d{3}) upstream_response_time=(-|\d+\.\d{3})$`)

func TestAccessLogCombined(t *testing.T) {
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
	_, addr := start(t, sm, ServerConfig{AccessLog: &logs, AccessLogFormat: AccessLogCombined}, r)
	req, _ := http.NewRequest("GET", "http://"+addr+"/hello?q=1&r=\"x\"", nil)
	req.Host = "app.test"
	req.SetBasicAuth("alice", "secret")
	req.Header.Set("Referer", "http://ref.test/")
	req.Header.Set("User-Agent", `agent "quoted"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _ = get(t, addr, "nobody.test", "/x")
	waitFor(t, "2 access log lines", 5*time.Second, func() bool { return len(logs.lines()) >= 2 })
	lines := logs.lines()
	m := combinedRe.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("not nginx's combined format: %s", lines[0])
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[3]); err != nil {
		t.Errorf("$time_local %q: %v", m[3], err)
	}
	want := []string{1: "127.0.0.1", 2: "alice", 4: "GET", 5: `/hello?q=1&r=\x22x\x22`, 6: "HTTP/1.1", 7: "200", 8: "5",
		9: "http://ref.test/", 10: `agent \x22quoted\x22`, 11: "app.test", 12: "app.test", 13: "acme", 16: "-"}
	for i, w := range want {
		if w != "" && m[i] != w {
			t.Errorf("field %d = %q, want %q in %s", i, m[i], w, lines[0])
		}
	}
	if m[14] != resp.Header.Get(HeaderXRequestID) || !ValidRequestID([]byte(m[14])) {
		t.Errorf("request_id %q, but the response said %q", m[14], resp.Header.Get(HeaderXRequestID))
	}
	m = combinedRe.FindStringSubmatch(lines[1])
	if m == nil || m[2] != "-" || m[9] != "-" || m[7] != "404" || m[12] != DefaultHost || m[13] != "-" {
		t.Errorf("second line: %s", lines[1])
	}
}

func TestAccessLogRequestID(t *testing.T) {
	var logs lockedBuffer
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) {
		// The handler (a proxy) sees the id the response will carry.
		ctx.SetBody(ctx.Request.Header.Peek(HeaderXRequestID))
	})
	_, addr := start(t, sm, ServerConfig{AccessLog: &logs}, r)
	send := func(id string) (echoed, seen string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		if id != "" {
			req.Header.Set(HeaderXRequestID, id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get(HeaderXRequestID), string(b)
	}
	valid := "req-1.2_3:" + strings.Repeat("a", MaxRequestIDLen-10)
	gen1, _ := send("")
	gen2, _ := send("")
	tests := []struct {
		id   string
		keep bool
	}{
		{valid, true},
		{"abc-DEF_0.9:x", true},
		{valid + "a", false},       // too long
		{"has space", false},       // not in the alphabet
		{"quote\"d", false},        // not in the alphabet
		{"caf\xc3\xa9", false},     // not ASCII
		{"inject\\x0aline", false}, // backslash
	}
	for _, tc := range tests {
		echoed, seen := send(tc.id)
		if echoed != seen {
			t.Errorf("X-Request-Id %q: response says %q, the handler saw %q", tc.id, echoed, seen)
		}
		if tc.keep && echoed != tc.id {
			t.Errorf("valid X-Request-Id %q came back as %q", tc.id, echoed)
		}
		if !tc.keep && (echoed == tc.id || !ValidRequestID([]byte(echoed))) {
			t.Errorf("invalid X-Request-Id %q: came back as %q, want a new id", tc.id, echoed)
		}
	}
	if gen1 == "" || gen1 == gen2 || !ValidRequestID([]byte(gen1)) || !ValidRequestID([]byte(gen2)) {
		t.Errorf("generated ids %q and %q: want two different valid ones", gen1, gen2)
	}
	if p1, _, _ := strings.Cut(gen1, "-"); !strings.HasPrefix(gen2, p1+"-") {
		t.Errorf("generated ids %q and %q do not share the process's prefix", gen1, gen2)
	}
	n := 2 + len(tests)
	waitFor(t, "the access log lines", 5*time.Second, func() bool { return len(logs.lines()) >= n })
	for i, line := range logs.lines() {
		got := decodeAccessJSON(t, line)
		if i == 0 && got.RequestID != gen1 {
			t.Errorf("line 0: request_id %q, the response said %q", got.RequestID, gen1)
		}
	}
}

// Without the access log, requests get no id.
func TestRequestIDOffWithoutAccessLog(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("ok"))
	_, addr := start(t, sm, ServerConfig{}, r)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get(HeaderXRequestID); id != "" {
		t.Errorf("X-Request-Id %q without an access log", id)
	}
}

// Over HTTP/2 the line says HTTP/2.0 and the id comes back; a stream's
// upstream time, reported with AddUpstreamTime, is its own and not the
// next stream's on the same connection.
func TestAccessLogHTTP2(t *testing.T) {
	var logs lockedBuffer
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/proxied", func(ctx *fasthttp.RequestCtx) {
		AddUpstreamTime(ctx, 1500*time.Millisecond)
		AddUpstreamTime(ctx, 500*time.Millisecond) // a second try
	})
	r.GET("/plain", text("ok"))
	_, addr := start(t, sm, ServerConfig{EnableHTTP2: true, AccessLog: &logs}, r)
	c := h2cClient(t)
	paths := []string{"/proxied", "/plain"}
	for range 20 { // pooled streams get reused: none carries a time over
		paths = append(paths, "/proxied", "/plain")
	}
	for i, p := range paths {
		req, _ := http.NewRequest("GET", "http://"+addr+p, nil)
		if i == 1 {
			req.Header.Set(HeaderXRequestID, "h2-id")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || (i == 1 && resp.Header.Get(HeaderXRequestID) != "h2-id") || resp.Header.Get(HeaderXRequestID) == "" {
			t.Fatalf("%s %s: X-Request-Id %q", resp.Proto, p, resp.Header.Get(HeaderXRequestID))
		}
	}
	waitFor(t, "the access log lines", 5*time.Second, func() bool { return len(logs.lines()) >= len(paths) })
	for i, line := range logs.lines() {
		e := decodeAccessJSON(t, line)
		if e.Protocol != "HTTP/2.0" || e.Path != paths[i] {
			t.Errorf("line %d: protocol %q path %q: %s", i, e.Protocol, e.Path, line)
		}
		if paths[i] == "/proxied" && (e.UpstreamResponseTime == nil || *e.UpstreamResponseTime != 2) {
			t.Errorf("line %d: upstream_response_time %v, want 2 (two tries): %s", i, e.UpstreamResponseTime, line)
		}
		if paths[i] == "/plain" && e.UpstreamResponseTime != nil {
			t.Errorf("line %d: an upstream time left over from another stream: %s", i, line)
		}
	}
}
