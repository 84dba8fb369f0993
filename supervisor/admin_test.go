package supervisor_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
)

func adminGet(t *testing.T, admin, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAdminHealthAndReady: /healthz answers while the master lives; /readyz
// only while every worker is ready, and 503 while one is being restarted.
func TestAdminHealthAndReady(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	pids := m.waitWorkers(2, 10*time.Second)
	if code, _, body := adminGet(t, m.admin, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _, body := adminGet(t, m.admin, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	// Kill slot 0's worker twice in a row: the second restart waits
	// (backoff), and meanwhile the master is alive but not ready.
	_ = syscall.Kill(pids[0], syscall.SIGKILL)
	second := m.slotWorker(0, map[int]bool{pids[0]: true}, 10*time.Second)
	_ = syscall.Kill(second.PID, syscall.SIGKILL)
	waitFor(t, "/readyz to say 503", 5*time.Second, func() bool {
		code, _, _ := adminGet(t, m.admin, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if code, _, _ := adminGet(t, m.admin, "/healthz"); code != 200 {
		t.Fatalf("/healthz while a worker restarts: %d", code)
	}
	waitFor(t, "/readyz to say 200 again", 15*time.Second, func() bool {
		code, _, _ := adminGet(t, m.admin, "/readyz")
		return code == 200
	})
}

// TestAdminStatus: /status is JSON with the workers, the generations, the
// hosts and tenants, and their traffic; /status/ is the HTML page.
func TestAdminStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, limitConfig(2, "{ requests_per_second = 0.01, burst = 1 }", ""))
	m.waitWorkers(2, 10*time.Second)
	for range 3 {
		_, _, _ = m.get("a.test", "/")
	}
	var st supervisor.Status
	waitFor(t, "traffic in /status", 5*time.Second, func() bool {
		code, h, body := adminGet(t, m.admin, "/status")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Fatalf("/status: %d %s", code, h.Get("Content-Type"))
		}
		st = supervisor.Status{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		return st.Traffic != nil && st.Traffic.Hosts["a.test"].Requests == 3
	})
	a := st.Traffic.Hosts["a.test"]
	if a.Tenant != "demo" || a.RateLimited != 2 || st.Traffic.Tenants["demo"].Requests != 3 {
		t.Errorf("traffic of a.test %+v, of demo %+v", a, st.Traffic.Tenants["demo"])
	}
	if len(st.Workers) != 2 || len(st.Generations) != 1 || st.Generations[0].State != "current" || st.Generations[0].Workers != 2 {
		t.Errorf("workers %+v, generations %+v", st.Workers, st.Generations)
	}
	if strings.Join(st.Hosts, ",") != "a.test,b.test" || strings.Join(st.Tenants, ",") != "demo" {
		t.Errorf("hosts %v, tenants %v", st.Hosts, st.Tenants)
	}

	code, h, body := adminGet(t, m.admin, "/status/")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `fetch("/status"`) {
		t.Fatalf("/status/: %d %s %.100q", code, h.Get("Content-Type"), body)
	}
	if code, _, _ := adminGet(t, m.admin, "/status/other"); code != 404 {
		t.Errorf("/status/other: %d, want 404", code)
	}
}

// An admin endpoint on every address (admin.listen = "0.0.0.0:port", as a
// container's probes and Prometheus need) serves the read-only endpoints
// there, to a Host that is the address dialled, and nothing that changes
// state: the admin endpoint has no mutating endpoint, so any other method
// is 405 on every path.
func TestAdminNonLoopbackReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	cfg := strings.Replace(configText(1, "hello"), "listen = \"127.0.0.1:0\"\n", "listen = \"0.0.0.0:0\"\n", 1)
	m := startMaster(t, cfg)
	_, port, err := net.SplitHostPort(m.admin)
	if err != nil {
		t.Fatalf("admin address %q: %v", m.admin, err)
	}
	addrs := []string{net.JoinHostPort("127.0.0.1", port)}
	if ip := nonLoopbackIPv4(); ip != "" {
		addrs = append(addrs, net.JoinHostPort(ip, port))
	} else {
		t.Log("no non-loopback IPv4 address on this machine: checked over loopback only")
	}
	for _, a := range addrs {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/status"} {
			waitFor(t, a+path+" to answer 200", 10*time.Second, func() bool {
				code, _, _ := adminGet(t, a, path)
				return code == http.StatusOK
			})
			for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
				req, _ := http.NewRequest(method, "http://"+a+path, strings.NewReader("{}"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s %s%s: %d, want 405", method, a, path, resp.StatusCode)
				}
			}
		}
	}
}

// nonLoopbackIPv4 is an IPv4 address of this machine other than loopback,
// or "".
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
