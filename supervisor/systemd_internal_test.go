package supervisor

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// fakeNotifier is an sdNotifier whose sends are recorded, and fail with
// fail when it is set.
func fakeNotifier(log *bytes.Buffer) (*sdNotifier, *[]string, *error) {
	var sent []string
	var fail error
	n := &sdNotifier{
		notify: func(state string) (bool, error) {
			if fail != nil {
				return false, fail
			}
			sent = append(sent, state)
			return true, nil
		},
		monotonic: func() string { return "MONOTONIC_USEC=42\n" },
		log:       zerolog.New(log),
	}
	return n, &sent, &fail
}

// Each message is what the protocol wants: one assignment a line, a
// status of one line whatever the error it quotes, MONOTONIC_USEC beside
// RELOADING=1, and nothing once STOPPING=1 was said.
func TestSDNotifierMessages(t *testing.T) {
	var log bytes.Buffer
	n, sent, _ := fakeNotifier(&log)
	n.reloading()
	n.reloaded("reload failed: line 1: bad\nline 2: worse")
	n.ping()
	n.stopping(true)
	n.reloaded("after the stop")
	n.ping()
	want := []string{
		"RELOADING=1\nMONOTONIC_USEC=42\nSTATUS=reloading the configuration",
		"READY=1\nSTATUS=reload failed: line 1: bad line 2: worse",
		"WATCHDOG=1",
		"STOPPING=1\nSTATUS=stopping (graceful)",
	}
	if strings.Join(*sent, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", *sent, want)
	}
}

// After a binary upgrade's MAINPID= the old master says nothing more.
func TestSDNotifierHandOver(t *testing.T) {
	var log bytes.Buffer
	n, sent, _ := fakeNotifier(&log)
	n.handOver(1234)
	n.stopping(false)
	n.status("x")
	if len(*sent) != 1 || !strings.HasPrefix((*sent)[0], "MAINPID=1234\nSTATUS=") {
		t.Errorf("sent %q, want the MAINPID=1234 message only", *sent)
	}
}

// A notify socket that fails is logged once, not at every status update,
// and again after it worked in between.
func TestSDNotifierFailureLoggedOnce(t *testing.T) {
	var log bytes.Buffer
	n, _, fail := fakeNotifier(&log)
	*fail = errors.New("connection refused")
	for range 3 {
		n.status("x")
	}
	*fail = nil
	n.status("y")
	*fail = errors.New("connection refused")
	n.status("z")
	if c := strings.Count(log.String(), "sd_notify failed"); c != 2 {
		t.Errorf("%d log lines for 4 failures in 2 runs, want 2:\n%s", c, log.String())
	}
}

// A new master of a binary upgrade does not inherit WATCHDOG_PID, which
// names the old one; the rest stays.
func TestUpgradeEnviron(t *testing.T) {
	got := upgradeEnviron([]string{"A=1", "WATCHDOG_PID=7", "WATCHDOG_USEC=100", "NOTIFY_SOCKET=/x"})
	if strings.Join(got, " ") != "A=1 WATCHDOG_USEC=100 NOTIFY_SOCKET=/x" {
		t.Errorf("upgradeEnviron = %q", got)
	}
}
