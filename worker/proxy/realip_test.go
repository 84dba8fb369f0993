package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// TestProxyForwardsRealClient: behind trusted proxies the upstream's
// X-Forwarded-For keeps the chain the proxies sent with the peer that
// connected appended, so its rightmost untrusted address is still the
// client, and X-Real-IP and Forwarded name the client the server found.
// From an untrusted peer the client's header is kept as it came, with the
// peer appended, and the peer is the client.
func TestProxyForwardsRealClient(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}},
		worker.ServerConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tt := range []struct {
		from, xff          string
		wantXFF, wantReal  string
		wantForwardedStart string
	}{
		{"127.0.0.2", "198.51.100.7, 203.0.113.9, 10.1.2.3", "198.51.100.7, 203.0.113.9, 10.1.2.3, 127.0.0.2", "203.0.113.9", "for=203.0.113.9;"},
		{"127.0.0.1", "203.0.113.9", "203.0.113.9, 127.0.0.1", "127.0.0.1", "for=127.0.0.1;"},
		{"127.0.0.2", "", "127.0.0.2", "127.0.0.2", "for=127.0.0.2;"},
	} {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		xff := ""
		if tt.xff != "" {
			xff = "X-Forwarded-For: " + tt.xff + "\r\n"
		}
		fmt.Fprint(c, "GET /headers HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n"+xff+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.Close()
		h := a.lastHeader.Load()
		if got := string(h.Peek("X-Forwarded-For")); got != tt.wantXFF {
			t.Errorf("from %s, XFF %q: upstream saw X-Forwarded-For %q, want %q", tt.from, tt.xff, got, tt.wantXFF)
		}
		if got := string(h.Peek("X-Real-IP")); got != tt.wantReal {
			t.Errorf("from %s, XFF %q: upstream saw X-Real-IP %q, want %q", tt.from, tt.xff, got, tt.wantReal)
		}
		if got := string(h.Peek("Forwarded")); len(got) < len(tt.wantForwardedStart) || got[:len(tt.wantForwardedStart)] != tt.wantForwardedStart {
			t.Errorf("from %s, XFF %q: upstream saw Forwarded %q, want it to start %q", tt.from, tt.xff, got, tt.wantForwardedStart)
		}
	}
}
