package worker

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The connection wrappers keep the socket's ReadFrom (sendfile for static
// files), and a copy through them delivers every byte.
func TestConnWrappersKeepReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := connListener{Listener: stubListener{dial: ln.Addr().String()}, g: newConnGroup(ServerConfig{}.withDefaults())}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Fatal("the accepted connection lost ReadFrom")
	}
	want := strings.Repeat("rockstar ", 100000)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := c.(io.ReaderFrom).ReadFrom(f); err != nil || n != int64(len(want)) {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	c.Close()
	if g := <-got; g != want {
		t.Fatalf("received %d bytes, want %d", len(g), len(want))
	}
}

// stubListener "accepts" by dialing addr, so the wrapper gets a real TCP conn.
type stubListener struct {
	net.Listener
	dial string
}

func (s stubListener) Accept() (net.Conn, error) { return net.Dial("tcp", s.dial) }
