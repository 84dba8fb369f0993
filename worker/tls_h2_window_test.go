package worker

import (
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

func TestH2TunerGrows(t *testing.T) {
	const rtt = 10 * time.Millisecond
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		rtt   time.Duration
		every time.Duration // between half windows given back
		want  int64         // the size after four halves
	}{
		{"fast halves double it", rtt, rtt, 8 << 20}, // the first only marks the time
		{"slow halves keep it", rtt, 3 * rtt, 1 << 20},
		{"no round trip yet keeps it", 0, time.Microsecond, 1 << 20},
		{"capped at max", rtt, time.Microsecond, 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := int64(h2StreamWindowMax)
			if tt.name == "capped at max" {
				max = 2 << 20
			}
			tu := h2Tuner{size: 1 << 20}
			now := t0
			for range 4 {
				// half a window given back in two parts: only the second
				// reaches the half.
				if g := tu.gave(256<<10, now, tt.rtt, max); g != 0 {
					t.Fatalf("grew by %d before half the window was given", g)
				}
				before := tu.size
				g := tu.gave(tu.size/2-256<<10, now, tt.rtt, max)
				if tu.size-before != g {
					t.Fatalf("grew by %d, size went %d -> %d", g, before, tu.size)
				}
				now = now.Add(tt.every)
			}
			if got := tu.size; got != tt.want {
				t.Errorf("size %d, want %d", got, tt.want)
			}
		})
	}
}

// A stream's receive window grows once its halves come back within two
// round trips: the client is granted more than the initial window ahead
// of what it sent. With no round trip known (this raw client never ACKs
// the server's SETTINGS) it stays at the initial window.
func TestH2StreamWindowAutoTunes(t *testing.T) {
	for _, rtt := range []time.Duration{0, time.Minute} {
		t.Run("rtt="+rtt.String(), func(t *testing.T) {
			r := NewRouter()
			r.GET("/ok", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
			r.POST("/upload", func(ctx *fasthttp.RequestCtx) {
				ctx.SetBodyString(strconv.Itoa(len(ctx.PostBody())))
			})
			cert, key, pool := devPair(t, h2DosSNI)
			s := quietManager(t).NewServer(ServerConfig{EnableHTTP2: true, MaxRequestSize: 64 << 20})
			s.SetRouter(r)
			addr := listenTLS(t, s, cert, key)
			c := dialH2Raw(t, addr, pool)
			// Served once: the connection is in the server's table.
			if err := c.request(1, "GET", "/ok", true); err != nil {
				t.Fatal(err)
			}
			if err := c.flush(); err != nil {
				t.Fatal(err)
			}
			c.readAnswers([]uint32{1}, "ok", 5*time.Second)
			hs := h2ServerOf(s)
			hs.mu.Lock()
			for hc := range hs.conns {
				hc.rtt.rtt.Store(int64(rtt))
			}
			hs.mu.Unlock()

			const size = 12 << 20
			if err := c.request(3, "POST", "/upload", false); err != nil {
				t.Fatal(err)
			}
			// The server's SETTINGS and first WINDOW_UPDATE were read with
			// the first answer.
			connWin, streamWin := int64(h2ConnWindow), int64(h2StreamWindow)
			var sent, most int64
			chunk := make([]byte, 16384)
			deadline := time.Now().Add(10 * time.Second)
			for sent < size {
				n := min(int64(len(chunk)), connWin, streamWin, size-sent)
				if n <= 0 {
					if err := c.flush(); err != nil {
						t.Fatal(err)
					}
					f, err := c.read(deadline)
					if err != nil {
						t.Fatalf("after %d bytes: %v", sent, err)
					}
					switch f := f.(type) {
					case *http2.WindowUpdateFrame:
						if f.StreamID == 0 {
							connWin += int64(f.Increment)
						} else {
							streamWin += int64(f.Increment)
						}
					case *http2.RSTStreamFrame, *http2.GoAwayFrame:
						t.Fatalf("after %d bytes: %v", sent, f)
					}
					most = max(most, streamWin)
					continue
				}
				if err := c.fr.WriteData(3, sent+n == size, chunk[:n]); err != nil {
					t.Fatal(err)
				}
				sent += n
				connWin -= n
				streamWin -= n
			}
			if err := c.flush(); err != nil {
				t.Fatal(err)
			}
			c.readAnswers([]uint32{3}, strconv.Itoa(size), 10*time.Second)
			t.Logf("the stream's window reached %d", most)
			if rtt == 0 && most > h2StreamWindow {
				t.Errorf("with no round trip known the window reached %d, want at most %d", most, h2StreamWindow)
			}
			if rtt > 0 && most <= 2*h2StreamWindow {
				t.Errorf("with a long round trip the window reached only %d, want more than %d", most, 2*h2StreamWindow)
			}
		})
	}
}
