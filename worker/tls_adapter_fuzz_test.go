package worker

import (
	"bytes"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzAdapterCopyHeaders: the HTTP/2 and HTTP/3 adapter's copy of a
// fasthttp response head into an http.Header, whatever the header lines,
// equals a plain copy that drops the hop-by-hop headers, those the
// Connection header names, and Content-Length (set from length instead);
// and a second copy into a reused context gives the same, leaving the
// first intact.
func FuzzAdapterCopyHeaders(f *testing.F) {
	f.Add([]byte("Content-Type: text/plain\nX-A: 1\nX-A: 2"), 5)
	f.Add([]byte("Connection: keep-alive, X-Hop\nX-Hop: gone\nX-Kept: yes\nKeep-Alive: timeout=5"), -1)
	f.Add([]byte("Transfer-Encoding: chunked\nTrailer: X-T\nUpgrade: h2c\nTe: trailers\nContent-Length: 99"), 0)
	f.Add([]byte("set-cookie: a=1\nSet-Cookie: b=2\nx-lower: v\nCache-Control: no-store"), 123456789)
	f.Add([]byte("Connection: close\nServer: rockstar\nX-Empty:"), 10)
	f.Fuzz(func(t *testing.T, head []byte, length int) {
		if length < -1 {
			length = -1
		}
		var rh fasthttp.ResponseHeader
		for _, line := range bytes.Split(head, []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(k) == 0 {
				continue
			}
			rh.AddBytesKV(k, bytes.TrimSpace(v))
		}
		want := http.Header{}
		if length >= 0 {
			want["Content-Length"] = []string{strconv.Itoa(length)}
		}
		var conn string
		for k, v := range rh.All() {
			if string(k) == "Connection" {
				conn = string(v)
			}
		}
		hop := map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
			"Upgrade": true, "Te": true, "TE": true, "Trailer": true, "Content-Length": true}
		for k, v := range rh.All() {
			named := false
			for _, tok := range strings.Split(conn, ",") {
				if conn != "" && strings.EqualFold(strings.TrimSpace(tok), string(k)) {
					named = true
				}
			}
			if hop[string(k)] || named {
				continue
			}
			want[string(k)] = append(want[string(k)], string(v))
		}
		ac := new(adaptCtx)
		got := http.Header{}
		ac.copyHeaders(got, &rh, length)
		if len(want) == 0 {
			want = http.Header{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("copyHeaders(%q, %d)\n got %q\nwant %q", head, length, got, want)
		}
		again := http.Header{}
		ac.copyHeaders(again, &rh, length)
		if !reflect.DeepEqual(again, want) || !reflect.DeepEqual(got, want) {
			t.Fatalf("a second copy with the reused context: %q, first now %q, want %q", again, got, want)
		}
	})
}
