package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// pxRaw sends raw on a new connection to addr and returns the status of
// the answer (0 when the connection closed without one). closeWrite ends
// the client's side after sending, as a client that goes away mid-body.
func pxRaw(t *testing.T, addr, raw string, closeWrite bool) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return 0
	}
	if closeWrite {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// pxPooled is how many connections the proxy holds to its upstreams.
func pxPooled(p *Proxy) int {
	n := 0
	for _, u := range p.pool.Load().ups {
		n += u.hc.ConnsCount()
	}
	return n
}

// A client can take no upstream out of rotation, nor make the proxy drop
// its pooled connections, with requests that fail because of the client:
// a Connection header that names Host, a chunked body that breaks, a body
// over MaxRequestSize, a body cut short. With max_fails = 1 each used to
// take the upstream it went to out for fail_timeout.
func TestProxyClientErrorsDoNotPoisonThePool(t *testing.T) {
	a, b := pxUpstream(t, "a"), pxUpstream(t, "b")
	addr, p := pxFront(t, Config{Upstreams: []string{a.addr, b.addr}, MaxFails: 1, FailTimeout: time.Minute},
		worker.ServerConfig{MaxRequestSize: 64 << 10})

	// Fill the pool: 8 requests at once, 4 on each upstream.
	var wg sync.WaitGroup
	for range 8 {
		c := pxClient(t)
		wg.Go(func() {
			if code, body, _, err := pxFetch(c, "GET", addr, "/slow?d=300ms", nil); err != nil || code != 200 {
				t.Errorf("warm-up: %d %q %v", code, body, err)
			}
		})
	}
	wg.Wait()
	pooled := pxPooled(p)
	if pooled < 6 {
		t.Fatalf("after the warm-up the proxy pools %d connections, want 8", pooled)
	}

	big := strings.Repeat("x", 8<<10)
	var over strings.Builder
	for range 10 { // 80 KB over a 64 KB limit
		fmt.Fprintf(&over, "%x\r\n%s\r\n", len(big), big)
	}
	over.WriteString("0\r\n\r\n")
	triggers := []struct {
		name, raw  string
		closeWrite bool
		want       []int // acceptable answers; 0: closed without one
	}{
		{"Connection: Host", "GET / HTTP/1.1\r\nHost: proxy.test\r\nConnection: Host\r\n\r\n", false, []int{200}},
		{"Connection: Host, Content-Length", "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 5\r\n" +
			"Connection: keep-alive\r\nConnection: Host, Content-Length, Transfer-Encoding\r\n\r\nhello", false, []int{200}},
		{"broken chunk", "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\nzz\r\n", false, []int{400, 0}},
		{"broken first chunk", "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, []int{400, 0}},
		{"chunked body over the limit", "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			over.String(), false, []int{413, 0}},
		{"body cut short", "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 10000\r\n\r\n" + big, true, []int{400, 0}},
	}
	for _, tr := range triggers {
		// Twice: round robin sends one to each upstream.
		for range 2 {
			before := pxPooled(p)
			code := pxRaw(t, addr, tr.raw, tr.closeWrite)
			ok := false
			for _, w := range tr.want {
				ok = ok || code == w
			}
			if !ok {
				t.Errorf("%s: answered %d, want one of %v", tr.name, code, tr.want)
			}
			// The try that carried a broken body may lose its own
			// connection, never the pool's others.
			if after := pxPooled(p); after < before-1 {
				t.Errorf("%s: the proxy dropped its pool: %d connections before, %d after", tr.name, before, after)
			}
		}
		for _, u := range []*pxTestUpstream{a, b} {
			if up, _ := p.UpstreamUp(u.addr); !up {
				t.Fatalf("%s: upstream %s was taken out of rotation", tr.name, u.name)
			}
		}
	}
	got := pxCount(t, addr, 40, 4)
	if got["a"] != 20 || got["b"] != 20 {
		t.Errorf("after the client errors, 40 GETs went %v, want 20 to each", got)
	}
}

// The headers a client could spoof to an upstream are dropped or
// rewritten, every Connection line is honoured, the target goes in
// origin-form, and no Content-Type is added.
func TestProxyForwardsOnlyWhatItShould(t *testing.T) {
	a := pxUpstream(t, "a")
	addr, _ := pxFront(t, Config{Upstreams: []string{a.addr}}, worker.ServerConfig{})
	code := pxRaw(t, addr, "POST http://proxy.test/upload?x=1 HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 3\r\n"+
		"Connection: keep-alive\r\nConnection: X-Second\r\nX-Second: drop me\r\n"+
		"Forwarded: for=1.2.3.4;host=evil.test\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n"+
		"X-Forwarded-Port: 1\r\nX-Forwarded-Prefix: /evil\r\nX-Real-IP: 1.2.3.4\r\n\r\nabc", false)
	if code != 200 {
		t.Fatalf("POST: %d", code)
	}
	h := a.lastHeader.Load()
	for _, k := range []string{"X-Second", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Port", "X-Forwarded-Prefix", "Content-Type"} {
		if got := h.Peek(k); len(got) != 0 {
			t.Errorf("upstream saw %s: %q", k, got)
		}
	}
	for k, want := range map[string]string{
		"Forwarded": `for=127.0.0.1;host="proxy.test";proto=http`,
		"X-Real-IP": "127.0.0.1",
		"Host":      "proxy.test",
	} {
		if got := string(h.Peek(k)); got != want {
			t.Errorf("upstream saw %s: %q, want %q", k, got, want)
		}
	}
	if got := string(h.RequestURI()); got != "/upload?x=1" {
		t.Errorf("upstream saw the target %q, want origin-form /upload?x=1", got)
	}

	for name, raw := range map[string]string{
		"space in a header name":  "GET / HTTP/1.1\r\nHost: proxy.test\r\nX Bad: 1\r\n\r\n",
		"brace in a header name":  "GET / HTTP/1.1\r\nHost: proxy.test\r\nX{Bad}: 1\r\n\r\n",
		"target not origin-form":  "GET ftp://proxy.test/ HTTP/1.1\r\nHost: proxy.test\r\n\r\n",
		"asterisk without OPTION": "GET * HTTP/1.1\r\nHost: proxy.test\r\n\r\n",
	} {
		before := a.hits.Load()
		if code := pxRaw(t, addr, raw, false); code != 400 {
			t.Errorf("%s: answered %d, want 400", name, code)
		}
		if a.hits.Load() != before {
			t.Errorf("%s: forwarded to the upstream", name)
		}
	}
}

// The checks the proxy applies to what it forwards, one by one.
func TestProxyOriginForm(t *testing.T) {
	for _, tc := range []struct {
		in      string
		options bool
		want    string // "": refused
	}{
		{"/a?b", false, "/a?b"},
		{"*", true, "*"},
		{"*", false, ""},
		{"http://h/p?q", false, "/p?q"},
		{"HTTPS://h:8443", false, "/"},
		{"http://h?q=1", false, "/?q=1"},
		{"ftp://h/", false, ""},
		{"a/b", false, ""},
		{"/a b", false, ""},
		{"/a\x7f", false, ""},
		{"", false, ""},
	} {
		got, ok := originForm([]byte(tc.in), tc.options, nil)
		if (tc.want == "") == ok || string(got) != tc.want {
			t.Errorf("originForm(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for k, want := range map[string]bool{"X-Ok": true, "a!#$%&'*+-.^_`|~9": true, "": false, "X Y": false, "X:Y": false, "é": false} {
		if got := validHeaderName([]byte(k)); got != want {
			t.Errorf("validHeaderName(%q) = %v", k, got)
		}
	}
	for v, want := range map[string]bool{"ok value\t": true, "a\rb": false, "a\nb": false, "a\x00": false} {
		if got := validHeaderValue([]byte(v)); got != want {
			t.Errorf("validHeaderValue(%q) = %v", v, got)
		}
	}
}

// pxRefuser is an upstream that answers a GET, and refuses a request
// with a body the way a server with a small body limit does: it answers
// 413 after the head and closes without reading the body, which resets
// the connection under the proxy that is still sending it.
func pxRefuser(t *testing.T, closed chan<- struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup // the connections' goroutines
	var mu sync.Mutex
	var conns []net.Conn
	accepting := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-accepting
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					withBody := strings.HasPrefix(line, "PUT ")
					for line != "\r\n" {
						if line, err = r.ReadString('\n'); err != nil {
							return
						}
					}
					if withBody {
						io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
						c.Close()
						closed <- struct{}{}
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nrefuser")
				}
			})
		}
	}()
	return ln.Addr().String()
}

// An upstream that refuses a body by closing the connection under it is
// not taken out of rotation for it: whether the body was too large for
// it is the client's doing.
func TestProxyUpstreamRefusingABodyStaysInRotation(t *testing.T) {
	closed := make(chan struct{}, 4)
	r1, r2 := pxRefuser(t, closed), pxRefuser(t, closed)
	addr, p := pxFront(t, Config{Upstreams: []string{r1, r2}, MaxFails: 1, FailTimeout: time.Minute}, worker.ServerConfig{})
	chunk := strings.Repeat("x", 16<<10)
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "PUT /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: %d\r\n\r\n%s", 64*len(chunk), chunk)
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream never got the request")
		}
		for range 63 {
			if _, err := io.WriteString(c, chunk); err != nil {
				break
			}
		}
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 502 && resp.StatusCode != 413 {
				t.Errorf("upload refused by the upstream: %d, want 502 or 413", resp.StatusCode)
			}
		}
		c.Close()
	}
	for _, u := range []string{r1, r2} {
		if up, _ := p.UpstreamUp(u); !up {
			t.Errorf("upstream %s was taken out of rotation for refusing a body", u)
		}
	}
	if got := pxCount(t, addr, 4, 1); got["refuser"] != 4 {
		t.Errorf("GETs after the refusals: %v", got)
	}
}

// An upstream's 101 to a request that did not ask to switch protocols is
// a broken answer: the client gets 502, never the 101.
func TestProxyUnaskedSwitchIsBadGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		for line, err := r.ReadString('\n'); err == nil && line != "\r\n"; line, err = r.ReadString('\n') {
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(io.Discard, r)
	}()
	addr, _ := pxFront(t, Config{Upstreams: []string{ln.Addr().String()}, Retries: -1}, worker.ServerConfig{})
	if code := pxRaw(t, addr, "GET / HTTP/1.1\r\nHost: proxy.test\r\n\r\n", false); code != 502 {
		t.Errorf("an unasked 101 from the upstream: %d, want 502", code)
	}
}
