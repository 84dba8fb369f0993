//go:build !race

package worker

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2RawClient is an HTTP/2 client that allocates nothing per request: a
// header block encoded once (its fields then come from the server's HPACK
// table), frames written from a fixed buffer, answers parsed in place.
type h2RawClient struct {
	conn  net.Conn
	block []byte // the request's header block, fields indexed after the first
	out   []byte
	in    [32 << 10]byte
	hdr   [9]byte
	id    uint32
}

func newH2RawClient(t testing.TB, addr string, useTLS bool, fields ...hpack.HeaderField) *h2RawClient {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &h2RawClient{conn: conn, id: 1}
	var first bytes.Buffer
	enc := hpack.NewEncoder(&first)
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	// The first request adds the fields the static table lacks to the
	// dynamic one; the next ones name every field by index (62 is the
	// newest dynamic entry).
	var next []byte
	var dynamic []int
	for i, f := range fields {
		switch {
		case f.Name == ":method" && f.Value == "GET":
			next = append(next, 0x82)
		case f.Name == ":scheme" && f.Value == "http":
			next = append(next, 0x86)
		case f.Name == ":scheme" && f.Value == "https":
			next = append(next, 0x87)
		default:
			dynamic = append(dynamic, i)
			next = append(next, 0) // filled below
		}
	}
	for j, i := range dynamic {
		next[i] = 0x80 | byte(62+len(dynamic)-1-j)
	}
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	_ = fr.WriteSettings()
	c.block = first.Bytes()
	c.roundTrip(t)
	c.block = next
	return c
}

var settingsAck = []byte{0, 0, 0, 0x4, 0x1, 0, 0, 0, 0}

// roundTrip sends one GET and reads its answer: 200 and a body.
func (c *h2RawClient) roundTrip(t testing.TB) {
	c.out = c.out[:0]
	c.out = append(c.out, 0, 0, 0, 0x1, 0x5, 0, 0, 0, 0) // HEADERS, END_STREAM|END_HEADERS
	c.out[0], c.out[1], c.out[2] = byte(len(c.block)>>16), byte(len(c.block)>>8), byte(len(c.block))
	binary.BigEndian.PutUint32(c.out[5:], c.id)
	c.out = append(c.out, c.block...)
	if _, err := c.conn.Write(c.out); err != nil {
		t.Fatal(err)
	}
	for {
		hdr := c.hdr[:]
		if _, err := io.ReadFull(c.conn, hdr); err != nil {
			t.Fatal(err)
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if _, err := io.ReadFull(c.conn, c.in[:n]); err != nil {
			t.Fatal(err)
		}
		typ, flags := http2.FrameType(hdr[3]), http2.Flags(hdr[4])
		sid := binary.BigEndian.Uint32(hdr[5:]) & (1<<31 - 1)
		switch {
		case typ == http2.FrameSettings && flags&http2.FlagSettingsAck == 0:
			c.conn.Write(settingsAck) // SETTINGS ack
		case typ == http2.FrameRSTStream || typ == http2.FrameGoAway:
			t.Fatalf("frame %v", typ)
		case sid == c.id && flags&http2.FlagDataEndStream != 0 && (typ == http2.FrameData || typ == http2.FrameHeaders):
			c.id += 2
			return
		}
	}
}

// The HTTP/2 request path allocates nothing in steady state: a GET on a
// keep-alive connection, through the frame reader, the HPACK decoder, the
// pooled RequestCtx, the dispatch, a handler and the response's frames,
// for an inline host (answered on the reader) and for one on the pool.
// It is measured over cleartext HTTP/2, where every allocation is the
// server's or this client's; over TLS, crypto/tls itself allocates once
// per record it reads (its atLeastReader), on both sides.
func TestAllocsH2Request(t *testing.T) {
	for _, inline := range []bool{true, false} {
		sm := NewServerManager()
		hello := func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("Cache-Control", "no-store")
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("Hello, World!\n")
		}
		if err := sm.RegisterHost("a.test", HostConfig{Inline: inline}); err != nil {
			t.Fatal(err)
		}
		r := NewRouter()
		r.Host("a.test").GET("/hello", hello)
		s, addr := start(t, sm, ServerConfig{EnableHTTP2: true, DisableEventLoop: true}, r)
		c := newH2RawClient(t, addr, false,
			hpack.HeaderField{Name: ":method", Value: "GET"},
			hpack.HeaderField{Name: ":scheme", Value: "http"},
			hpack.HeaderField{Name: ":authority", Value: "a.test"},
			hpack.HeaderField{Name: ":path", Value: "/hello"},
			hpack.HeaderField{Name: "user-agent", Value: "alloc-test"},
		)
		for range 100 {
			c.roundTrip(t)
		}
		n := testing.AllocsPerRun(2000, func() { c.roundTrip(t) })
		if n > 0.05 {
			t.Errorf("inline=%v: %.2f allocations per request", inline, n)
		}
		_ = s.Close()
	}
}

// BenchmarkH2Request is TestAllocsH2Request's request on an inline host,
// over loopback TLS (the client's work included).
func BenchmarkH2Request(b *testing.B) {
	certFile, keyFile, _ := devPair(b)
	sm := NewServerManager()
	if err := sm.RegisterHost("a.test", HostConfig{Inline: true}); err != nil {
		b.Fatal(err)
	}
	s := sm.NewServer(ServerConfig{EnableHTTP2: true})
	r := NewRouter()
	r.Host("a.test").GET("/hello", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello, World!\n") })
	s.SetRouter(r)
	addr := listenTLS(b, s, certFile, keyFile)
	c := newH2RawClient(b, addr, true,
		hpack.HeaderField{Name: ":method", Value: "GET"},
		hpack.HeaderField{Name: ":scheme", Value: "https"},
		hpack.HeaderField{Name: ":authority", Value: "a.test"},
		hpack.HeaderField{Name: ":path", Value: "/hello"},
	)
	b.ReportAllocs()
	for b.Loop() {
		c.roundTrip(b)
	}
	_ = s.Close()
}
