package supervisor_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each case keeps a steady load on the master while something happens, and
// then requires zero failed requests.
func TestZeroDowntime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	cases := []struct {
		name string
		act  func(t *testing.T, m *master)
	}{
		{"hup-in-place", func(t *testing.T, m *master) {
			m.writeConfig(configText(2, "changed"))
			m.signal(syscall.SIGHUP)
			waitFor(t, "the new body", 10*time.Second, func() bool {
				_, body, err := m.get("hello.test", "/")
				return err == nil && body == "changed"
			})
		}},
		{"hup-new-generation", func(t *testing.T, m *master) {
			m.writeConfig(configText(3, "hello"))
			m.signal(syscall.SIGHUP)
			m.logs.wait(t, "old generation drained", 20*time.Second)
			m.waitWorkers(3, 10*time.Second)
		}},
		{"ttin-ttou", func(t *testing.T, m *master) {
			m.signal(syscall.SIGTTIN)
			m.waitWorkers(3, 10*time.Second)
			m.signal(syscall.SIGTTOU)
			m.logs.wait(t, "old generation drained", 20*time.Second)
			m.waitWorkers(2, 10*time.Second)
		}},
		{"usr2-upgrade", func(t *testing.T, m *master) {
			m.upgrade(t)
			m.waitWorkers(2, 10*time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := startMaster(t, configText(2, "hello"))
			live, stop := startLoad(m.addr, "hello.test", "GET", 8, 60*time.Second)
			live.served(t, 500) // the load is steady
			tc.act(t, m)
			live.served(t, 500) // and runs on the result
			res := stop()
			t.Logf("%s: %s", tc.name, res)
			if res.OK.Load() == 0 {
				t.Fatal("no request succeeded")
			}
			if res.failures() != 0 {
				t.Fatalf("%d failed requests: %s", res.failures(), res)
			}
		})
	}
}

// A kill -9 of one worker loses at most the requests in flight on it, and
// causes no connect errors: its queued connections wait for its successor.
func TestKillWorkerUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	const conns = 8
	m := startMaster(t, configText(2, "hello"))
	live, stop := startLoad(m.addr, "hello.test", "GET", conns, 60*time.Second)
	live.served(t, 500)
	pids := m.waitWorkers(2, 5*time.Second)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.logs.wait(t, "worker exited unexpectedly; restarting", 5*time.Second)
	m.waitWorkers(2, 10*time.Second)
	live.served(t, 500)
	res := stop()
	t.Logf("kill -9: %s", res)
	if res.ConnectErrs.Load() != 0 {
		t.Fatalf("connect errors after kill -9 of a worker: %s", res)
	}
	if res.Non2xx.Load() != 0 || res.OtherErrs.Load() > conns {
		t.Fatalf("more failures than requests in flight (%d): %s", conns, res)
	}
	_ = strings.Cut
}
