package worker

import (
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestRegisterHostValidation(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 labels of 63 plus 3 dots is 255; trim to exactly 253 and 254.
	name253 := strings.Join([]string{label63, label63, label63, label63[:61]}, ".")
	name254 := strings.Join([]string{label63, label63, label63, label63[:62]}, ".")
	tests := []struct {
		name string
		want error
	}{
		{"example.com", nil},
		{"a.b-c.example.com", nil},
		{"localhost", nil},
		{"xn--bcher-kva.example", nil},
		{"123.example", nil},
		{"*.example.com", nil},
		{"Mixed.Case.ORG", nil},
		{"trailing.dot.", nil},
		{label63 + ".com", nil},
		{name253, nil},
		{name253 + ".", nil}, // the trailing dot is not part of the 253
		{name254, ErrInvalidHostname},
		{"*." + name253[2:], nil},
		{"*." + name254[2:], ErrInvalidHostname}, // 254 "in all", the "*." included
		{strings.Repeat("a", 64) + ".com", ErrInvalidHostname},
		{"", ErrInvalidHostname},
		{".", ErrInvalidHostname},
		{"..", ErrInvalidHostname},
		{"-a.com", ErrInvalidHostname},
		{"a-.com", ErrInvalidHostname},
		{"a.-b.com", ErrInvalidHostname},
		{"a..com", ErrInvalidHostname},
		{".a.com", ErrInvalidHostname},
		{"a.com..", ErrInvalidHostname},
		{"a.com:80", ErrInvalidHostname},
		{"a_b.com", ErrInvalidHostname},
		{"a b.com", ErrInvalidHostname},
		{"a/b.com", ErrInvalidHostname},
		{"ex\x00ample.com", ErrInvalidHostname},
		{"exämple.com", ErrInvalidHostname},
		{"[::1]", ErrInvalidHostname},
		{"*", ErrInvalidHostname},
		{"*.", ErrInvalidHostname},
		{"*example.com", ErrInvalidHostname},
		{"*.*.example.com", ErrInvalidHostname},
		{"a.*.example.com", ErrInvalidHostname},
		{"example.*", ErrInvalidHostname},
	}
	for _, tt := range tests {
		sm := NewServerManager()
		err := sm.RegisterHost(tt.name, HostConfig{})
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("RegisterHost(%q) = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if err != nil && len(sm.Hosts()) != 0 {
			t.Errorf("RegisterHost(%q) failed but Hosts() = %q", tt.name, sm.Hosts())
		}
		if got := ValidateHostname(tt.name); !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("ValidateHostname(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRegisterHostDuplicatesCaseInsensitive(t *testing.T) {
	sm := NewServerManager()
	for _, h := range []string{"example.com", "*.example.com", "other.example.com"} {
		if err := sm.RegisterHost(h, HostConfig{}); err != nil {
			t.Fatalf("RegisterHost(%q): %v", h, err)
		}
	}
	for _, dup := range []string{"example.com", "EXAMPLE.COM", "Example.Com.", "*.EXAMPLE.com", "OTHER.example.com."} {
		err := sm.RegisterHost(dup, HostConfig{TenantID: "x"})
		if !errors.Is(err, ErrHostExists) {
			t.Errorf("RegisterHost(%q) = %v, want ErrHostExists", dup, err)
		}
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), strings.TrimSuffix(strings.ToLower(dup), ".")) {
			t.Errorf("RegisterHost(%q) error %q does not name the host", dup, err)
		}
	}
	if got, want := sm.Hosts(), []string{"*.example.com", "example.com", "other.example.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts() = %q, want %q", got, want)
	}
}

func TestRegisterTenantRules(t *testing.T) {
	sm := NewServerManager()
	for h, tenant := range map[string]string{"a.test": "", "b.test": "", "c.test": "other", "d.test": "t2"} {
		if err := sm.RegisterHost(h, HostConfig{TenantID: tenant}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sm.RegisterTenant("t1", []string{"a.test"}); err != nil {
		t.Fatal(err)
	}
	bad := &RateLimitConfig{Enabled: true}
	tests := []struct {
		name string
		cfg  TenantConfig
		want error
	}{
		{"empty id", TenantConfig{ID: "", Hosts: []string{"b.test"}}, ErrInvalidTenantID},
		{"duplicate id", TenantConfig{ID: "t1", Hosts: []string{"b.test"}}, ErrTenantExists},
		{"nil hosts", TenantConfig{ID: "t2"}, ErrNoHosts},
		{"empty hosts", TenantConfig{ID: "t2", Hosts: []string{}}, ErrNoHosts},
		{"unknown host", TenantConfig{ID: "t2", Hosts: []string{"b.test", "missing.test"}}, ErrHostNotFound},
		{"host in another tenant", TenantConfig{ID: "t2", Hosts: []string{"b.test", "A.TEST"}}, ErrHostInTenant},
		{"host configured for another tenant", TenantConfig{ID: "t2", Hosts: []string{"c.test"}}, ErrHostInTenant},
		{"bad rate limit", TenantConfig{ID: "t2", Hosts: []string{"b.test"}, RateLimits: bad}, ErrInvalidRateLimit},
	}
	hosts, tenants := sm.Hosts(), sm.Tenants()
	for _, tt := range tests {
		err := sm.RegisterTenantConfig(tt.cfg)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: RegisterTenantConfig(%+v) = %v, want %v", tt.name, tt.cfg, err, tt.want)
		}
		// A failed call changes nothing.
		if got := sm.Hosts(); !reflect.DeepEqual(got, hosts) {
			t.Errorf("%s: Hosts() = %q after a failed call, want %q", tt.name, got, hosts)
		}
		if got := sm.Tenants(); !reflect.DeepEqual(got, tenants) {
			t.Errorf("%s: Tenants() = %v after a failed call, want %v", tt.name, got, tenants)
		}
	}
	// Host names in a tenant are matched case-insensitively and stored canonical.
	if err := sm.RegisterTenant("t2", []string{"B.Test.", "d.test", "b.test"}); err != nil {
		t.Fatalf("RegisterTenant(t2): %v", err)
	}
	want := map[string][]string{"t1": {"a.test"}, "t2": {"b.test", "d.test"}}
	if got := sm.Tenants(); !reflect.DeepEqual(got, want) {
		t.Errorf("Tenants() = %v, want %v", got, want)
	}
	if err := sm.RegisterTenant("t3", []string{"b.test"}); !errors.Is(err, ErrHostInTenant) {
		t.Errorf("a host in two tenants: %v, want ErrHostInTenant", err)
	}
}

func TestUnregisterRules(t *testing.T) {
	sm := NewServerManager()
	for _, h := range []string{"a.test", "b.test"} {
		if err := sm.RegisterHost(h, HostConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sm.RegisterTenant("t1", []string{"a.test", "b.test"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op   string
		call func() error
		want error
	}{
		{"unknown host", func() error { return sm.UnregisterHost("missing.test") }, ErrHostNotFound},
		{"invalid host", func() error { return sm.UnregisterHost("not a host") }, ErrHostNotFound},
		{"unknown tenant", func() error { return sm.UnregisterTenant("nope") }, ErrTenantNotFound},
		{"empty tenant", func() error { return sm.UnregisterTenant("") }, ErrTenantNotFound},
		{"host, other case", func() error { return sm.UnregisterHost("A.TEST.") }, nil},
		{"host again", func() error { return sm.UnregisterHost("a.test") }, ErrHostNotFound},
		{"tenant", func() error { return sm.UnregisterTenant("t1") }, nil},
		{"tenant again", func() error { return sm.UnregisterTenant("t1") }, ErrTenantNotFound},
	}
	for _, st := range steps {
		before := sm.Tenants()
		err := st.call()
		if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", st.op, err, st.want)
		}
		if err != nil && !reflect.DeepEqual(sm.Tenants(), before) {
			t.Fatalf("%s failed but changed the tenants: %v -> %v", st.op, before, sm.Tenants())
		}
		if st.op == "host, other case" {
			// Unregistering a host removes it from its tenant.
			if got, want := sm.Tenants()["t1"], []string{"b.test"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("tenant t1 hosts = %q after UnregisterHost, want %q", got, want)
			}
		}
	}
	// The tenant's hosts stay registered and are free to join another tenant;
	// the unregistered host can be registered again.
	if got, want := sm.Hosts(), []string{"b.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts() = %q, want %q", got, want)
	}
	if err := sm.RegisterTenant("t9", []string{"b.test"}); err != nil {
		t.Errorf("re-use of a freed host: %v", err)
	}
	if err := sm.RegisterHost("a.test", HostConfig{}); err != nil {
		t.Errorf("re-register of an unregistered host: %v", err)
	}
}

func TestRegisterHostRejectsBadRateLimit(t *testing.T) {
	for _, rl := range []RateLimitConfig{
		{Enabled: true},
		{Enabled: true, RequestsPerSecond: -1, BurstSize: 1},
		{Enabled: true, RequestsPerSecond: math.NaN()},
		{Enabled: true, RequestsPerSecond: math.Inf(1)},
		{Enabled: true, RequestsPerSecond: 1, BurstSize: -1},
	} {
		sm := NewServerManager()
		if err := sm.RegisterHost("a.test", HostConfig{RateLimits: &rl}); !errors.Is(err, ErrInvalidRateLimit) {
			t.Errorf("RegisterHost with %+v = %v, want ErrInvalidRateLimit", rl, err)
		}
		if len(sm.Hosts()) != 0 {
			t.Errorf("a failed RegisterHost registered %q", sm.Hosts())
		}
	}
	// A disabled limit is not checked.
	sm := NewServerManager()
	if err := sm.RegisterHost("a.test", HostConfig{RateLimits: &RateLimitConfig{}}); err != nil {
		t.Errorf("disabled limit: %v", err)
	}
}

// Registering and unregistering while a server runs takes effect on the
// next request, and every request sees one whole configuration or the other.
func TestRegistryChangesWhileServing(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	_, addr := start(t, sm, ServerConfig{}, r)

	site := HostConfig{VirtualFS: fstest.MapFS{"index.html": {Data: []byte("live")}}}
	if code, body := get(t, addr, "live.test", "/"); code != 200 || body != "default" {
		t.Fatalf("before RegisterHost: %d %q", code, body)
	}
	if err := sm.RegisterHost("live.test", site); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, addr, "LIVE.test", "/"); code != 200 || body != "live" {
		t.Fatalf("after RegisterHost: %d %q, want 200 live", code, body)
	}
	// A registered host with nothing to serve answers 404 itself, never the default routes.
	if err := sm.RegisterHost("*.empty.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, addr, "x.empty.test", "/"); code != 404 {
		t.Fatalf("empty wildcard host: %d, want 404", code)
	}
	if err := sm.UnregisterHost("live.test"); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, addr, "live.test", "/"); code != 200 || body != "default" {
		t.Fatalf("after UnregisterHost: %d %q, want the default", code, body)
	}

	// Flip the host on and off while clients hammer it: each answer is
	// one of the two configurations, never a mix or an error.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := fetch("GET", addr, "live.test", "/")
				if err != nil {
					t.Errorf("during changes: %v", err)
					return
				}
				mu.Lock()
				seen[body]++
				mu.Unlock()
				if code != 200 || (body != "live" && body != "default") {
					t.Errorf("during changes: %d %q", code, body)
					return
				}
			}
		})
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		return seen["live"] + seen["default"]
	}
	flip := func() bool {
		if err := sm.RegisterHost("live.test", site); err != nil {
			t.Error(err)
		}
		if err := sm.UnregisterHost("live.test"); err != nil {
			t.Error(err)
		}
		return total() >= 100 || t.Failed()
	}
	defer wg.Wait()
	defer close(stop)
	waitFor(t, "100 requests during changes", 20*time.Second, flip)
}

// fetch is get for goroutines other than the test's: it returns the error
// instead of failing the test.
func fetch(method, addr, host, path string) (int, string, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
