package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// hostileServer serves a.test and b.test, each with a marker body, and
// counts what reached a handler.
func hostileServer(t *testing.T) (addr string, hits func() string) {
	t.Helper()
	sm := quietManager(t)
	var got strings.Builder
	var mu = make(chan struct{}, 1)
	mark := func(s string) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			mu <- struct{}{}
			got.WriteString(s + string(ctx.Path()) + " ")
			<-mu
			ctx.SetBodyString(s + " got " + string(ctx.PostBody()))
		}
	}
	r := NewRouter()
	r.Host("a.test").GET("/", mark("A"))
	r.Host("a.test").POST("/upload", mark("A"))
	r.Host("a.test").GET("/admin", mark("A"))
	r.Host("b.test").GET("/", mark("B"))
	r.Host("b.test").GET("/admin", mark("B"))
	_, addr = start(t, sm, ServerConfig{}, r)
	return addr, func() string {
		mu <- struct{}{}
		defer func() { <-mu }()
		s := got.String()
		got.Reset()
		return s
	}
}

// Request smuggling: each head that a front and a back server could frame
// differently is refused with 400 and the connection closed, and the
// request hidden after it never reaches a handler.
func TestRequestSmuggling(t *testing.T) {
	addr, hits := hostileServer(t)
	const hidden = "GET /admin HTTP/1.1\r\nHost: b.test\r\n\r\n"
	post := "POST /upload HTTP/1.1\r\nHost: a.test\r\n"
	tests := []struct{ name, req string }{
		{"CL then TE", post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden},
		{"TE then CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + hidden},
		{"CL and TE, odd case", post + "content-LENGTH: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n" + hidden},
		{"duplicate CL, same value", post + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd" + hidden},
		{"duplicate CL, two values", post + "Content-Length: 4\r\nContent-Length: 45\r\n\r\nabcd" + hidden},
		{"CL list", post + "Content-Length: 4, 4\r\n\r\nabcd" + hidden},
		{"CL with sign", post + "Content-Length: +4\r\n\r\nabcd" + hidden},
		{"duplicate TE", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden},
		{"TE not chunked last", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + hidden},
		{"unknown TE", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + hidden},
		{"TE in HTTP/1.0", "POST /upload HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden},
		{"chunk size negative", post + "Transfer-Encoding: chunked\r\n\r\n-1\r\nabcd\r\n0\r\n\r\n" + hidden},
		{"chunk size overflow", post + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabcd\r\n0\r\n\r\n" + hidden},
		{"chunk size 0x", post + "Transfer-Encoding: chunked\r\n\r\n0x4\r\nabcd\r\n0\r\n\r\n" + hidden},
		{"chunk size leading space", post + "Transfer-Encoding: chunked\r\n\r\n 4\r\nabcd\r\n0\r\n\r\n" + hidden},
		{"chunk longer than its size", post + "Transfer-Encoding: chunked\r\n\r\n4\r\nabcdGET /admin HTTP/1.1\r\n0\r\n\r\n" + hidden},
		{"chunk lines end in bare LF", post + "Transfer-Encoding: chunked\r\n\r\n4\nabcd\n0\n\n" + hidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, closed := exchange(t, addr, tt.req, 5*time.Second)
			if got := statusOf(reply); got != "400" {
				t.Errorf("status %q, want 400 (reply %.120q)", got, reply)
			}
			if n := strings.Count(reply, "HTTP/1.1 "); n != 1 {
				t.Errorf("%d responses, want 1: %q", n, reply)
			}
			if !closed {
				t.Error("the connection stayed open")
			}
			if h := hits(); h != "" {
				t.Errorf("handlers ran: %s", h)
			}
		})
	}
	// The well-framed forms still work, and keep-alive with them.
	reply, _ := exchange(t, addr, post+"Content-Length: 4\r\n\r\nabcd"+post+"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nefgh\r\n0\r\n\r\n", 5*time.Second)
	if strings.Count(reply, "HTTP/1.1 200 OK") != 2 || !strings.Contains(reply, "A got abcd") || !strings.Contains(reply, "A got efgh") {
		t.Errorf("well-framed requests: %q", reply)
	}
}

// Host tricks: a request reaches a host's handlers only when every way of
// reading its host agrees.
func TestHostTricks(t *testing.T) {
	addr, hits := hostileServer(t)
	tests := []struct{ name, req, status, hit string }{
		{"absolute-form, other host", "GET http://b.test/admin HTTP/1.1\r\nHost: a.test\r\n\r\n", "400", ""},
		{"absolute-form, other port", "GET http://a.test:81/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "400", ""},
		{"absolute-form, same host", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "200", "A/ "},
		{"absolute-form, same host, other case", "GET http://A.TEST/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "200", "A/ "},
		{"absolute-form, https", "GET https://b.test/admin HTTP/1.1\r\nHost: a.test\r\n\r\n", "400", ""},
		{"host with userinfo", "GET /admin HTTP/1.1\r\nHost: b.test@a.test\r\n\r\n", "400", ""},
		{"host with empty userinfo", "GET /admin HTTP/1.1\r\nHost: @b.test\r\n\r\n", "400", ""},
		{"absolute-form with userinfo", "GET http://a.test@b.test/admin HTTP/1.1\r\nHost: b.test\r\n\r\n", "400", ""},
		{"two Host headers", "GET /admin HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "400", ""},
		{"two equal Host headers", "GET /admin HTTP/1.1\r\nHost: b.test\r\nHost: b.test\r\n\r\n", "400", ""},
		{"Host list", "GET /admin HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n", "400", ""},
		{"Host with path", "GET /admin HTTP/1.1\r\nHost: a.test/b.test\r\n\r\n", "400", ""},
		{"no Host in HTTP/1.1", "GET /admin HTTP/1.1\r\n\r\n", "400", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, _ := exchange(t, addr, strings.Replace(tt.req, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1), 5*time.Second)
			if got := statusOf(reply); got != tt.status {
				t.Errorf("status %q, want %s (reply %.120q)", got, tt.status, reply)
			}
			if h := hits(); h != tt.hit {
				t.Errorf("handlers ran: %q, want %q", h, tt.hit)
			}
		})
	}
}
