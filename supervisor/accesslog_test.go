package supervisor_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// accessConfig is a master with an access log in format, a respond host
// and a proxy host in front of upstream.
func accessConfig(format, upstream string) string {
	return configHead(1, "info", fmt.Sprintf("access_log = \"access.log\"\naccess_log_format = %q\n", format)) + fmt.Sprintf(`
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "hello.test"
tenant = "demo"
respond = "hello"

[[host]]
hostname = "proxy.test"
proxy = { upstreams = [%q] }

[[tenant]]
id = "demo"
hosts = ["hello.test"]
`, upstream)
}

// idUpstream is an upstream that takes 20ms and remembers the
// X-Request-Id of the requests it got.
func idUpstream(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("X-Request-Id"))
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("upstream"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ids...)
	}
}

// accessRequests sends the requests both formats' tests log: one for the
// respond host with a client's id, one for no host, one proxied. It
// returns the ids the responses carried.
func accessRequests(t *testing.T, m *master) []string {
	t.Helper()
	var ids []string
	for _, r := range []struct{ host, id string }{{"hello.test", "client-id-1"}, {"nobody.test", ""}, {"proxy.test", ""}} {
		req, _ := http.NewRequest("GET", "http://"+m.addr+"/p?x=1", nil)
		req.Host = r.host
		req.Header.Set("User-Agent", "access-test")
		if r.id != "" {
			req.Header.Set("X-Request-Id", r.id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	if ids[0] != "client-id-1" || ids[1] == "" || ids[2] == "" || ids[1] == ids[2] {
		t.Fatalf("response ids %q: want the client's, then two new ones", ids)
	}
	return ids
}

func accessLines(t *testing.T, m *master, n int) []string {
	t.Helper()
	path := filepath.Join(m.dir, "access.log")
	var lines []string
	waitFor(t, fmt.Sprintf("%d lines in access.log", n), 5*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= n && lines[0] != ""
	})
	return lines
}

// accessEntry is a JSON access log line with the one type of each field.
type accessEntry struct {
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

// The binary's JSON access log: strict types, the ids the responses
// carried (and the proxy passed on), upstream_response_time for the
// proxied request only.
func TestAccessLogJSONBinary(t *testing.T) {
	up, upIDs := idUpstream(t)
	m := startMaster(t, accessConfig("json", up.Listener.Addr().String()))
	m.waitWorkers(1, 10*time.Second)
	ids := accessRequests(t, m)
	if got := upIDs(); len(got) != 1 || got[0] != ids[2] {
		t.Errorf("the upstream got X-Request-Id %q, the client %q", got, ids[2])
	}
	lines := accessLines(t, m, 3)
	want := []struct {
		host, vhost, tenant string
		status              int
	}{{"hello.test", "hello.test", "demo", 200}, {"nobody.test", "_", "", 404}, {"proxy.test", "proxy.test", "", 200}}
	for i, line := range lines {
		var e accessEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d does not decode strictly: %v: %s", i, err, line)
		}
		w := want[i]
		if e.Host != w.host || e.VHost != w.vhost || e.Tenant != w.tenant || e.Status != w.status || e.RequestID != ids[i] ||
			e.Method != "GET" || e.Path != "/p" || e.Query != "x=1" || e.Protocol != "HTTP/1.1" || e.RemoteAddr != "127.0.0.1" ||
			e.RemoteUser != "-" || e.UserAgent != "access-test" || e.RequestTime < 0 {
			t.Errorf("line %d = %s\nwant %+v, request_id %q", i, line, w, ids[i])
		}
		if proxied := i == 2; proxied != (e.UpstreamResponseTime != nil) {
			t.Errorf("line %d: upstream_response_time %v for proxied=%v: %s", i, e.UpstreamResponseTime, proxied, line)
		} else if proxied && (*e.UpstreamResponseTime < 0.02 || e.RequestTime < *e.UpstreamResponseTime) {
			t.Errorf("line %d: upstream_response_time %v, request_time %v; the upstream took 20ms", i, *e.UpstreamResponseTime, e.RequestTime)
		}
	}
}

var combinedLine = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (HTTP/[0-9.]+)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"` +
	` host="([^"]*)" vhost="([^"]*)" tenant="([^"]*)" request_id="([^"]*)" request_time=(\d+\.\d{3}) upstream_response_time=(-|\d+\.\d{3})$`)

// The binary's combined access log: nginx's format, then the same fields.
func TestAccessLogCombinedBinary(t *testing.T) {
	up, _ := idUpstream(t)
	m := startMaster(t, accessConfig("combined", up.Listener.Addr().String()))
	m.waitWorkers(1, 10*time.Second)
	ids := accessRequests(t, m)
	lines := accessLines(t, m, 3)
	status := []string{"200", "404", "200"}
	for i, line := range lines {
		f := combinedLine.FindStringSubmatch(line)
		if f == nil {
			t.Fatalf("line %d is not nginx's combined format: %s", i, line)
		}
		if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", f[3]); err != nil {
			t.Errorf("line %d: $time_local: %v", i, err)
		}
		if f[1] != "127.0.0.1" || f[2] != "-" || f[4] != "GET" || f[5] != "/p?x=1" || f[6] != "HTTP/1.1" ||
			f[7] != status[i] || f[9] != "-" || f[10] != "access-test" || f[14] != ids[i] {
			t.Errorf("line %d: %s", i, line)
		}
		if proxied := i == 2; proxied == (f[16] == "-") {
			t.Errorf("line %d: upstream_response_time=%s for proxied=%v", i, f[16], proxied)
		} else if proxied {
			if v, _ := strconv.ParseFloat(f[16], 64); v < 0.02 {
				t.Errorf("line %d: upstream_response_time=%s; the upstream took 20ms", i, f[16])
			}
		}
	}
}

// A reload that changes the access log's format takes effect: the workers
// are replaced (they open the log as they start), and the lines that
// follow are in the new format.
func TestAccessLogFormatReload(t *testing.T) {
	up, _ := idUpstream(t)
	m := startMaster(t, accessConfig("json", up.Listener.Addr().String()))
	m.waitWorkers(1, 10*time.Second)
	if code, _, err := m.get("hello.test", "/before"); err != nil || code != 200 {
		t.Fatalf("GET: %d %v", code, err)
	}
	accessLines(t, m, 1)
	m.writeConfig(accessConfig("combined", up.Listener.Addr().String()))
	if code, out := cli(t, "reload", "-s", m.sock); code != 0 {
		t.Fatalf("rockstar reload: exit %d:\n%s", code, out)
	}
	// The first request may still reach the draining worker over a
	// keep-alive connection (its answer closes it); the next ones reach
	// the new generation.
	var last string
	waitFor(t, "a combined line for /after", 10*time.Second, func() bool {
		if code, _, err := m.get("hello.test", "/after"); err != nil || code != 200 {
			return false
		}
		b, _ := os.ReadFile(filepath.Join(m.dir, "access.log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		last = lines[len(lines)-1]
		return strings.Contains(last, "/after") && combinedLine.MatchString(last)
	})
}
