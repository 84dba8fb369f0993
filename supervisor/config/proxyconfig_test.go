package config

import (
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker/proxy"
)

// A proxy table's keys reach the proxy's Config, and the file's
// defaults reach it as the proxy package's.
func TestProxyConfigMapping(t *testing.T) {
	c, err := Parse("/etc/rockstar/rockstar.toml", []byte(`[[server]]
listen = ":80"
[[host]]
hostname = "a.test"
proxy = { upstreams = ["b:1"], tunnel_idle_timeout = "90s", timeout = "7s" }
[[host]]
hostname = "b.test"
proxy = { upstreams = ["b:1"] }
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Hosts[0].ProxyConfig(nil)
	if a.TunnelIdleTimeout != 90*time.Second || a.Timeout != 7*time.Second || a.Name != "a.test" {
		t.Errorf("a.test: TunnelIdleTimeout %s, Timeout %s, Name %q", a.TunnelIdleTimeout, a.Timeout, a.Name)
	}
	if b := c.Hosts[1].ProxyConfig(nil); b.TunnelIdleTimeout != proxy.DefaultTunnelIdleTimeout {
		t.Errorf("b.test: TunnelIdleTimeout %s, want the default %s", b.TunnelIdleTimeout, proxy.DefaultTunnelIdleTimeout)
	}
}
