package child

import (
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// respond hosts never block, so the workers' event loops serve them, and
// never read a body, so the workers drop bodies sent to them.
func TestRespondHostsAreInline(t *testing.T) {
	var r roots
	hosts, _, err := r.hostConfigs(&config.Config{Hosts: []config.Host{
		{Hostname: "fixed.test", Respond: "ok"},
		{Hostname: "plain.test"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if got, want := h.Inline, h.Hostname == "fixed.test"; got != want {
			t.Errorf("%s: Inline = %v, want %v", h.Hostname, got, want)
		}
		if got, want := h.DiscardRequestBody, h.Hostname == "fixed.test"; got != want {
			t.Errorf("%s: DiscardRequestBody = %v, want %v", h.Hostname, got, want)
		}
	}
}

func TestServerConfigEventLoop(t *testing.T) {
	for _, on := range []bool{true, false} {
		if got := serverConfig(config.Server{EventLoop: on}, nil).DisableEventLoop; got != !on {
			t.Errorf("event_loop = %v: DisableEventLoop = %v", on, got)
		}
	}
}

// A root's dotfiles setting reaches its worker.HostConfig, default off.
func TestRootHostsDotfiles(t *testing.T) {
	var r roots
	t.Cleanup(func() { r.closeUnused(nil, false) })
	dir := t.TempDir()
	hosts, _, err := r.hostConfigs(&config.Config{Hosts: []config.Host{
		{Hostname: "plain.test", Root: dir},
		{Hostname: "dots.test", Root: dir, Dotfiles: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if got, want := h.ServeDotfiles, h.Hostname == "dots.test"; got != want {
			t.Errorf("%s: ServeDotfiles = %v, want %v", h.Hostname, got, want)
		}
	}
}
