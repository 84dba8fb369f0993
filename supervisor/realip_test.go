package supervisor_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRealClientThroughBinary: through the real binary, with
// trusted_proxies and proxy_protocol on a [[server]], the client a
// PROXY header (v1 or v2) names is what a client_ip limit shared by two
// workers keys on and what the access log records, and a trusted hop's
// X-Forwarded-For is walked past; a connection without a header, and one
// from a peer outside trusted_proxies, are closed unanswered.
func TestRealClientThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configHead(2, "info", `access_log = "-"`)+`
[[server]]
listen = "127.0.0.1:0"
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
proxy_protocol = true

[[host]]
hostname = "a.test"
respond = "a"
rate_limit = { requests_per_second = 0.01, burst = 1, key = "client_ip" }
`)
	m.waitWorkers(2, 10*time.Second)
	v1 := func(src string, port int) string {
		return fmt.Sprintf("PROXY TCP4 %s 192.0.2.80 %d 80\r\n", src, port)
	}
	v2 := func(src string, port int) string { // version 2, PROXY, TCP over IPv4, 12 address bytes
		ip := net.ParseIP(src).To4()
		return "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + string(ip) + "\xc0\x00\x02\x50" +
			string([]byte{byte(port >> 8), byte(port)}) + "\x00\x50"
	}
	send := func(from, header, extra string) (int, error) {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", m.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "%sGET / HTTP/1.1\r\nHost: a.test\r\n%sConnection: close\r\n\r\n", header, extra); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, tt := range []struct {
		name, header, extra string
		want                int
	}{
		{"v1, client A", v1("203.0.113.1", 1001), "", 200},
		{"v2, client A again", v2("203.0.113.1", 1002), "", 429},
		{"v2, client B", v2("203.0.113.2", 1003), "", 200},
		{"v1, client B again", v1("203.0.113.2", 1004), "", 429},
		{"trusted PROXY source, client C in XFF", v1("10.0.0.9", 1005), "X-Forwarded-For: 203.0.113.3\r\n", 200},
		{"client C again", v2("203.0.113.3", 1006), "", 429},
	} {
		code, err := send("127.0.0.1", tt.header, tt.extra)
		if err != nil || code != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, code, err, tt.want)
		}
	}
	if code, err := send("127.0.0.1", "", ""); err == nil {
		t.Errorf("no PROXY header: answered %d, want the connection closed", code)
	}
	if code, err := send("127.0.0.2", v1("203.0.113.4", 1007), ""); err == nil {
		t.Errorf("peer outside trusted_proxies: answered %d, want the connection closed", code)
	}
	for _, want := range []string{`"remote_addr":"203.0.113.1"`, `"remote_addr":"203.0.113.2"`, `"remote_addr":"203.0.113.3"`} {
		waitFor(t, "an access log line with "+want, 5*time.Second, func() bool { return strings.Contains(m.logs.String(), want) })
	}
}
