package supervisor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor"
)

// A spell without file descriptors (the master's RLIMIT_NOFILE lowered to
// 0, so that every accept fails with EMFILE) does not end the control
// socket: the request that came in during it is answered once descriptors
// are back, and so are new ones.
func TestControlSurvivesEMFILE(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(1, "hello"))
	pid := m.cmd.Process.Pid
	var saved unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &saved); err != nil {
		t.Skipf("cannot read the master's RLIMIT_NOFILE: %v", err)
	}
	restore := func() { _ = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &saved, nil) }
	t.Cleanup(restore)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 0, Max: saved.Max}, nil); err != nil {
		t.Skipf("cannot lower the master's RLIMIT_NOFILE: %v", err)
	}

	// Connecting needs nothing of the master: the kernel queues it, and
	// the master's accept fails.
	c, err := net.DialTimeout("unix", m.sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := netutil.WriteMessage(c, &netutil.Message{ID: 7, Type: supervisor.VerbStatus}); err != nil {
		t.Fatal(err)
	}
	// The master says when its accept failed (restored by the cleanup if
	// it never does).
	const failed = "control socket: cannot accept; retrying"
	m.logs.wait(t, failed, 10*time.Second)
	restore()

	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := netutil.ReadMessage(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("the request made while out of descriptors: %v", err)
	}
	var st supervisor.Status
	if reply.ID != 7 || reply.Err != "" || json.Unmarshal(reply.Body, &st) != nil || st.PID != pid {
		t.Fatalf("reply %+v, want the status of master %d", reply, pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := supervisor.Request(ctx, m.sock, supervisor.VerbStatus, nil); err != nil {
		t.Fatalf("a new status request after the spell: %v", err)
	}
	if len(m.logs.find(failed)) != 1 {
		t.Errorf("%d lines %q, want one for the spell", len(m.logs.find(failed)), failed)
	}
	m.logs.wait(t, "control socket: accepting again", 5*time.Second)
}
