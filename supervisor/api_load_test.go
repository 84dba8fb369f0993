package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// Hosts added, changed and removed through the runtime API under load: the
// load on a config host loses nothing; a host added is served by every
// worker when the call returns; a request to a host being changed sees the
// old response or the new one, never a failure or a mix; a host removed is
// gone from every worker when the call returns.
func TestRuntimeAPIUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, apiConfig(t))
	m.waitWorkers(2, 10*time.Second)
	res, stop := startLoad(m.addr, "hello.test", "GET", 8, time.Minute)
	defer stop()
	res.served(t, 200)

	for i := range 5 {
		host := fmt.Sprintf("dyn%d.test", i)
		start := time.Now()
		if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/"+host, "", "*", `{"respond": "a"}`); r.Status != 201 {
			t.Fatalf("PUT %s: %d %s", host, r.Status, r.Body)
		}
		servedEverywhere(t, m, host, answers("a"))
		// The bound is a second; the margin here is for a loaded
		// CI machine.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v to be served everywhere", host, d)
		}

		// Changes while its own load runs: every answer is a or b.
		var seen sync.Map
		var bad atomic.Int64
		stopHost := runLoad(m.addr, "GET", []string{host}, 4, time.Minute, func(resp *http.Response, err error) {
			if err != nil || resp.StatusCode != 200 {
				bad.Add(1)
				return
			}
			seen.Store(resp.Header.Get("X-Body"), true)
		})
		for _, text := range []string{"b", "a", "b"} {
			if r, _ := sockAPI(t, m, "PUT", "/v1/hosts/"+host, "", "", `{"respond": "`+text+`", "headers": {"X-Body": "`+text+`"}}`); r.Status != 200 {
				t.Fatalf("PUT %s: %d %s", host, r.Status, r.Body)
			}
			servedEverywhere(t, m, host, answers(text))
		}
		stopHost()
		if bad.Load() != 0 {
			t.Fatalf("%s: %d requests failed while it changed", host, bad.Load())
		}
		seen.Range(func(k, _ any) bool {
			if k != "" && k != "a" && k != "b" {
				t.Errorf("%s: an answer had X-Body %q", host, k)
			}
			return true
		})

		if r, _ := sockAPI(t, m, "DELETE", "/v1/hosts/"+host, "", "", ""); r.Status != 204 {
			t.Fatalf("DELETE %s: %d %s", host, r.Status, r.Body)
		}
		servedEverywhere(t, m, host, unknownHost)
	}
	res.served(t, 200)
	if got := stop(); got.failures() != 0 {
		t.Fatalf("the load on hello.test lost requests: %s", got)
	}
}

// kill -9 of the master while changes stream in: the restarted master
// starts from a state file that parses, and it serves every change that
// was acknowledged before the kill (one in flight may or may not be there).
func TestRuntimeAPIKillMidChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	cfg := apiConfig(t)
	m := startMaster(t, cfg)
	m.waitWorkers(2, 10*time.Second)

	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				host := fmt.Sprintf("k%d-%d.test", w, i)
				req := supervisor.APIRequest{Method: "PUT", Path: "/v1/hosts/" + host, Body: `{"respond": "` + host + `"}`}
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				r, err := supervisor.Request(rctx, m.sock, supervisor.VerbAPI, req)
				rcancel()
				if err != nil {
					return // the master is gone
				}
				var resp supervisor.APIResponse
				if json.Unmarshal(r.Body, &resp) == nil && resp.Status == 201 {
					mu.Lock()
					acked = append(acked, host)
					mu.Unlock()
				}
			}
		})
	}
	waitFor(t, "some acknowledged changes", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 10
	})
	_ = m.cmd.Process.Kill()
	waitExit(t, m)
	cancel()
	wg.Wait()
	for _, pid := range m.workerPIDs() {
		waitFor(t, "the killed master's workers to exit", 10*time.Second, func() bool { return !alive(pid) })
	}

	m = startMasterAt(t, m.dir, cfg, nil)
	m.waitWorkers(2, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, host := range acked {
		code, body, err := m.get(host, "/")
		if err != nil || code != 200 || body != host {
			t.Fatalf("%s was acknowledged before kill -9 but is not served after the restart: %d %q %v", host, code, body, err)
		}
	}
	t.Logf("%d changes acknowledged before kill -9, all kept", len(acked))
}
