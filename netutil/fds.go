package netutil

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Errors about passed file descriptors, returned wrapped; check them with
// errors.Is.
var (
	// ErrNoFD means a listener or packet conn has no file descriptor to
	// pass (it does not implement syscall.Conn, such as a TLS listener).
	ErrNoFD = errors.New("netutil: no file descriptor")
	// ErrBadFD means an inherited descriptor is not what it was said to be:
	// negative, closed, or not a listening socket.
	ErrBadFD = errors.New("netutil: bad inherited file descriptor")
	// ErrBadFDSpec means DecodeFDs was given a malformed list.
	ErrBadFDSpec = errors.New("netutil: bad fd spec")
)

// ListenerFile returns a duplicate of l's socket as an *os.File, to hand to a
// child in exec.Cmd.ExtraFiles. l stays open and usable; close the file once
// the child has started.
//
// Unlike (*net.TCPListener).File, the duplicate is made so that os/exec does
// not switch the socket to blocking mode when it passes it on. A dup shares
// the blocking flag with the original, so with File every process still
// accepting on the socket (an old worker during a reload or a binary
// upgrade) would be left blocked in accept(2), unable to close its listener.
//
// Passing sockets needs Unix descriptors: on Windows ListenerFile,
// PacketConnFile, FileListener and FilePacketConn fail with an error
// wrapping ErrUnsupported.
func ListenerFile(l net.Listener) (*os.File, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netutil: listener file for %T: %w", l, ErrNoFD)
	}
	return dupFile(sc, "listener "+l.Addr().String())
}

// PacketConnFile is ListenerFile for a packet conn, such as the UDP socket of
// an HTTP/3 server.
func PacketConnFile(c net.PacketConn) (*os.File, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netutil: packet conn file for %T: %w", c, ErrNoFD)
	}
	return dupFile(sc, "packetconn "+c.LocalAddr().String())
}

// FileListener returns a listener for the inherited listening socket fd,
// such as fd 3 in a worker started with ExtraFiles. It takes ownership of
// fd: the listener works on a duplicate and fd itself is closed, whether or
// not FileListener succeeds. A descriptor that is not a listening stream
// socket is an error wrapping ErrBadFD. name labels the descriptor in errors.
func FileListener(fd uintptr, name string) (net.Listener, error) {
	f := os.NewFile(fd, name)
	if f == nil {
		return nil, fmt.Errorf("netutil: listener %s: fd %d: %w", name, int(fd), ErrBadFD)
	}
	defer f.Close()
	if err := checkSocket(f, syscall.SOCK_STREAM, true); err != nil {
		return nil, fmt.Errorf("netutil: listener %s: fd %d: %w", name, int(fd), err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("netutil: listener %s: fd %d: %w", name, int(fd), err)
	}
	return l, nil
}

// FilePacketConn is FileListener for an inherited datagram socket (UDP, for
// HTTP/3). It too closes fd whether or not it succeeds.
func FilePacketConn(fd uintptr, name string) (net.PacketConn, error) {
	f := os.NewFile(fd, name)
	if f == nil {
		return nil, fmt.Errorf("netutil: packet conn %s: fd %d: %w", name, int(fd), ErrBadFD)
	}
	defer f.Close()
	if err := checkSocket(f, syscall.SOCK_DGRAM, false); err != nil {
		return nil, fmt.Errorf("netutil: packet conn %s: fd %d: %w", name, int(fd), err)
	}
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("netutil: packet conn %s: fd %d: %w", name, int(fd), err)
	}
	return c, nil
}

// FDSpec says what one inherited descriptor is: Kind "tcp" (a listener),
// "udp" (a packet conn), "ctl" (the control socket), "cache" (the response
// cache's memory) or "shm" (the memory
// region shared with the master, package shm), the address it serves
// (empty for "ctl" and "shm"), the worker slot it belongs to, and its number
// in the child (3 for ExtraFiles[0]).
type FDSpec struct {
	Kind string
	Addr string
	Slot int
	FD   int
}

// String returns the spec as EncodeFDs writes it, for logs and fd names.
func (s FDSpec) String() string {
	var b strings.Builder
	s.appendTo(&b)
	return b.String()
}

func (s FDSpec) appendTo(b *strings.Builder) {
	b.WriteString(s.Kind)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(s.Slot))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(s.FD))
	b.WriteByte(':')
	escapeAddr(b, s.Addr)
}

// EncodeFDs encodes specs for an environment variable, as comma-separated
// "kind:slot:fd:addr" entries, for example
//
//	tcp:0:3:[::1]:8080,udp:0:4:[::1]:8443,ctl:0:5:
//
// The address comes last, so its colons and brackets need no escaping; '%',
// ',' and bytes outside printable ASCII are percent-encoded. EncodeFDs does
// not validate specs; DecodeFDs does.
func EncodeFDs(specs []FDSpec) string {
	var b strings.Builder
	for i, s := range specs {
		if i > 0 {
			b.WriteByte(',')
		}
		s.appendTo(&b)
	}
	return b.String()
}

// DecodeFDs decodes what EncodeFDs wrote. The empty string is no specs. A
// malformed entry, an unknown kind, a negative or non-decimal slot or fd, or
// an fd listed twice is an error wrapping ErrBadFDSpec.
func DecodeFDs(s string) ([]FDSpec, error) {
	if s == "" {
		return nil, nil
	}
	var specs []FDSpec
	seen := make(map[int]bool)
	for i, entry := range strings.Split(s, ",") {
		parts := strings.SplitN(entry, ":", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("%w: entry %d %q: want kind:slot:fd:addr", ErrBadFDSpec, i, entry)
		}
		kind := parts[0]
		switch kind {
		case "tcp", "udp", "ctl", "shm", "cache":
		default:
			return nil, fmt.Errorf("%w: entry %d: unknown kind %q", ErrBadFDSpec, i, kind)
		}
		slot, ok := parseNonNegative(parts[1])
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: bad slot %q", ErrBadFDSpec, i, parts[1])
		}
		fd, ok := parseNonNegative(parts[2])
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: bad fd %q", ErrBadFDSpec, i, parts[2])
		}
		if seen[fd] {
			return nil, fmt.Errorf("%w: entry %d: fd %d listed twice", ErrBadFDSpec, i, fd)
		}
		seen[fd] = true
		addr, err := unescapeAddr(parts[3])
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: address %q: %w", ErrBadFDSpec, i, parts[3], err)
		}
		specs = append(specs, FDSpec{Kind: kind, Addr: addr, Slot: slot, FD: fd})
	}
	return specs, nil
}

// parseNonNegative parses a decimal number of at most int32 range, with no
// sign, spaces or other decorations.
func parseNonNegative(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

const hexDigits = "0123456789ABCDEF"

func escapeAddr(b *strings.Builder, addr string) {
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if c == '%' || c == ',' || c <= ' ' || c >= 0x7f {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
}

var errBadEscape = errors.New("bad percent escape")

func unescapeAddr(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errBadEscape
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", errBadEscape
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
