package worker

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A body refused at its headers (Content-Length over MaxRequestSize) is
// still on its way; the lingering close reads it away, so the client can
// send all of it and then read its 413, instead of a reset that loses the
// answer. The body is many times the limit, as an upload far too big is.
func TestLingerLetsAFarTooBigUploadReadIts413(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.POST("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("read") })
	_, addr := start(t, sm, ServerConfig{MaxRequestSize: 1 << 20}, r)

	const size = 24 << 20
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))

	written := make(chan error, 1)
	go func() { // owned: the test waits for it below
		_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		chunk := bytes.Repeat([]byte("u"), 64<<10)
		for n := 0; err == nil && n < size; n += len(chunk) {
			_, err = c.Write(chunk)
		}
		written <- err
	}()
	resp, rerr := http.ReadResponse(bufio.NewReader(c), nil)
	werr := <-written
	if rerr != nil {
		t.Fatalf("reading the answer: %v (writing the body: %v)", rerr, werr)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusRequestEntityTooLarge; got != want {
		t.Errorf("status %d, want %d", got, want)
	}
	if werr != nil {
		t.Errorf("the server reset the connection before the client sent its body: %v", werr)
	}
}
