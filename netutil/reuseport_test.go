package netutil

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

func TestListenReusePortSharesAPort(t *testing.T) {
	a, err := ListenReusePort("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenReusePort("tcp", a.Addr().String())
	if err != nil {
		t.Fatalf("second reuseport listener on %s: %v", a.Addr(), err)
	}
	defer b.Close()
	if got, want := b.Addr().String(), a.Addr().String(); got != want {
		t.Fatalf("addr = %s, want %s", got, want)
	}
}

func TestListenReusePortRefusesAPlainSocket(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ln, err := ListenReusePort("tcp", plain.Addr().String())
	if err == nil {
		ln.Close()
		t.Fatal("reuseport listener bound a port held by a plain socket")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
}

func TestListenPacketReusePort(t *testing.T) {
	a, err := ListenPacketReusePort("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenPacketReusePort("udp", a.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}
