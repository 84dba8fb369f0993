package worker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/valyala/fasthttp"
)

// sendChunked writes a POST of n bytes in chunks of 32 KiB on conn, made
// from one buffer, so that the sender allocates next to nothing.
func sendChunked(t *testing.T, conn net.Conn, host string, n int) {
	t.Helper()
	if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n", host); err != nil {
		t.Fatal(err)
	}
	chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat("b", 32<<10)))
	for sent := 0; sent < n; sent += 32 << 10 {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("after %d bytes: %v", sent, err)
		}
	}
	if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// A chunked body sent to a host that never reads bodies (a fixed answer,
// static files) is read and dropped as it comes: the worker does not hold
// it in memory, the answer is the host's, and the connection serves on.
// Over MaxRequestSize it is still refused with 413.
func TestChunkedBodyDiscardedForHostsThatDoNotRead(t *testing.T) {
	sm := quietManager(t)
	fixed := func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			fmt.Fprintf(ctx, "fixed, body %d", len(ctx.PostBody()))
		}
	}
	if err := sm.RegisterHost("respond.test", HostConfig{Middleware: []MiddlewareFunc{fixed}, Inline: true, DiscardRequestBody: true}); err != nil {
		t.Fatal(err)
	}
	files := fstest.MapFS{"index.html": {Data: []byte("index")}}
	if err := sm.RegisterHost("static.test", HostConfig{VirtualFS: files}); err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	_, addr := start(t, sm, ServerConfig{MaxRequestSize: 16 << 20}, NewRouter())

	for _, tc := range []struct{ host, want string }{
		{"respond.test", "HTTP/1.1 200 OK"},
		{"static.test", "HTTP/1.1 405 Method Not Allowed"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			sendChunked(t, conn, tc.host, size)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			if got := "HTTP/1.1 " + resp.Status; got != tc.want {
				t.Fatalf("got %s %q, want %s", got, body, tc.want)
			}
			if tc.host == "respond.test" && string(body) != "fixed, body 0" {
				t.Fatalf("body %q: the handler saw the dropped body", body)
			}
			// The worker's process is this one: an 8 MiB body held whole
			// would allocate 8 MiB or more (16 with its buffer's doubling).
			if grew := after.TotalAlloc - before.TotalAlloc; grew > size/4 {
				t.Errorf("serving an %d MiB chunked body allocated %d MiB", size>>20, grew>>20)
			}
			// The connection serves on.
			if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", tc.host); err != nil {
				t.Fatal(err)
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("second request on the connection: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("second request: %d", resp.StatusCode)
			}
		})
	}

	// Past MaxRequestSize the body is refused, as for any host.
	_, small := start(t, sm, ServerConfig{MaxRequestSize: 100 << 10}, NewRouter())
	for _, host := range []string{"respond.test", "static.test"} {
		code, got := do(t, "POST", small, host, "/", io.MultiReader(strings.NewReader(strings.Repeat("b", 200<<10))))
		if code != 413 {
			t.Errorf("%s: chunked 200 KiB over a 100 KiB limit: %d %q, want 413", host, code, got)
		}
	}
}
