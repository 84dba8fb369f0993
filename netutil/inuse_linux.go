package netutil

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckAddrFree returns an *AddrInUseError (errors.Is ErrAddrInUse) if a
// socket outside own already listens on addr, network "tcp", "tcp4",
// "tcp6", "udp", "udp4" or "udp6"; for UDP, any socket bound to the port
// and not connected counts. own reports whether a socket inode (see
// SocketInode) is the caller's; nil means none is. Port 0 is always free.
//
// The kernel decides whether the address is taken, wildcard and specific
// addresses overlapping as they do for bind(2): a socket is bound without
// SO_REUSEPORT (with SO_REUSEADDR for TCP, so that connections in
// TIME_WAIT do not count) and closed at once, before it listens. If that
// fails with EADDRINUSE, /proc/net/tcp{,6} (or udp{,6}) tells which
// listening sockets overlap: when they are all own's, the address is the
// caller's own and free to share; else the error names the processes that
// hold the others, from /proc/PID/fd. Any other failure of the probe (a
// bad or privileged address) returns nil, for the real listen to report.
func CheckAddrFree(network, addr string, own func(inode uint64) bool) error {
	udp := strings.HasPrefix(network, "udp")
	var ip net.IP
	var port int
	if udp {
		a, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			return nil
		}
		ip, port = a.IP, a.Port
	} else {
		a, err := net.ResolveTCPAddr(network, addr)
		if err != nil {
			return nil
		}
		ip, port = a.IP, a.Port
	}
	if port == 0 || !probeInUse(network, ip, port, udp) {
		return nil
	}
	foreign, ours := listenersOn(ip, port, udp, own)
	if len(foreign) == 0 && ours {
		return nil
	}
	base := "tcp"
	if udp {
		base = "udp"
	}
	return &AddrInUseError{Network: base, Addr: addr, PIDs: pidsHolding(foreign)}
}

// probeInUse binds a socket to ip:port as net.Listen would (a wildcard
// with network "tcp" or "udp" is dual-stack), without SO_REUSEPORT, and
// reports whether bind failed with EADDRINUSE.
func probeInUse(network string, ip net.IP, port int, udp bool) bool {
	wild := ip == nil || ip.IsUnspecified()
	family, v6only := unix.AF_INET6, 0
	switch {
	case strings.HasSuffix(network, "4") || (!wild && ip.To4() != nil):
		family = unix.AF_INET
	case strings.HasSuffix(network, "6"):
		v6only = 1
	}
	typ := unix.SOCK_STREAM
	if udp {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil && family == unix.AF_INET6 && wild {
		family = unix.AF_INET // no IPv6 here
		fd, err = unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if !udp {
		// UDP shares a port between two SO_REUSEADDR sockets, so the probe
		// must not set it there; TCP needs it to ignore TIME_WAIT.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		s := &unix.SockaddrInet4{Port: port}
		if !wild {
			copy(s.Addr[:], ip.To4())
		}
		sa = s
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
		s := &unix.SockaddrInet6{Port: port}
		if !wild {
			copy(s.Addr[:], ip.To16())
		}
		sa = s
	}
	return errors.Is(unix.Bind(fd, sa), unix.EADDRINUSE)
}

// listenersOn reads /proc/net for the listening sockets on port whose
// address overlaps ip (nil or unspecified: any): the inodes of those that
// are not own's, and whether any is.
func listenersOn(ip net.IP, port int, udp bool, own func(uint64) bool) (foreign map[uint64]bool, ours bool) {
	files, state := []string{"/proc/net/tcp", "/proc/net/tcp6"}, "0A" // TCP_LISTEN
	if udp {
		files, state = []string{"/proc/net/udp", "/proc/net/udp6"}, "07" // TCP_CLOSE: bound, not connected
	}
	wild := ip == nil || ip.IsUnspecified()
	foreign = make(map[uint64]bool)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			e, ok := parseProcNetLine(sc.Text())
			if !ok || e.state != state || e.port != port || e.inode == 0 {
				continue
			}
			if !wild && !overlaps(ip, e.ip) {
				continue
			}
			if own != nil && own(e.inode) {
				ours = true
			} else {
				foreign[e.inode] = true
			}
		}
		f.Close()
	}
	return foreign, ours
}

// overlaps reports whether a specific ip is covered by a socket bound to
// bound: the same address, or a wildcard of its family (an IPv6 wildcard
// may be dual-stack, so it covers IPv4 too).
func overlaps(ip, bound net.IP) bool {
	switch {
	case bound.Equal(net.IPv6unspecified):
		return true
	case bound.Equal(net.IPv4zero):
		return ip.To4() != nil
	}
	return bound.Equal(ip)
}

// procNetEntry is one socket of /proc/net/{tcp,udp}{,6}.
type procNetEntry struct {
	ip    net.IP
	port  int
	state string
	inode uint64
}

// parseProcNetLine parses a line such as
//
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 123456 ...
//
// whose address is the in-memory bytes of each 32-bit word, printed as a
// native-endian number.
func parseProcNetLine(line string) (procNetEntry, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return procNetEntry{}, false
	}
	hexIP, hexPort, ok := strings.Cut(f[1], ":")
	if !ok || (len(hexIP) != 8 && len(hexIP) != 32) {
		return procNetEntry{}, false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil {
		return procNetEntry{}, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return procNetEntry{}, false
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return procNetEntry{}, false
	}
	return procNetEntry{ip: ip, port: int(port), state: f[3], inode: inode}, true
}

// pidsHolding returns the processes that /proc shows holding one of the
// sockets inodes, sorted. Processes it may not look into are left out.
func pidsHolding(inodes map[uint64]bool) []int {
	if len(inodes) == 0 {
		return nil
	}
	want := make(map[string]bool, len(inodes))
	for ino := range inodes {
		want["socket:["+strconv.FormatUint(ino, 10)+"]"] = true
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or another user's
		}
		for _, fd := range fds {
			if link, err := os.Readlink(dir + fd.Name()); err == nil && want[link] {
				out = append(out, pid)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}
