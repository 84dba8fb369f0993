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

// h2c on a plain server, like http2 on a TLS one, switches HTTP/2 on.
func TestServerConfigH2C(t *testing.T) {
	for _, tc := range []struct {
		protocols []string
		want      bool
	}{{[]string{"http1"}, false}, {[]string{"http1", "h2c"}, true}, {[]string{"http1", "http2"}, true}} {
		if got := serverConfig(config.Server{Protocols: tc.protocols}, nil, "").EnableHTTP2; got != tc.want {
			t.Errorf("protocols %v: EnableHTTP2 = %v, want %v", tc.protocols, got, tc.want)
		}
	}
}

func TestServerConfigEventLoop(t *testing.T) {
	for _, on := range []bool{true, false} {
		if got := serverConfig(config.Server{EventLoop: on}, nil, "").DisableEventLoop; got != !on {
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
