package supervisor

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"

	"github.com/rockstar-dev/rockstar/netutil"
)

// socketPool holds the listening sockets the master owns: for every
// configured address, one SO_REUSEPORT socket per slot. Before it opens the
// first socket of an address it checks that no other process listens
// there (netutil.CheckAddrFree): with SO_REUSEPORT the kernel would let the
// bind succeed and split the traffic between two servers. Its own sockets,
// those a binary upgrade handed over included, do not count. The pool only grows
// while the master runs: closing a reuseport socket resets the connections
// queued on it, so a socket whose worker is gone (after TTOU, or a reload
// to fewer workers) is not closed but served by another worker of the next
// generation. Sockets of an address that a reload removes are closed once
// the workers that used them are gone.
type socketPool struct {
	byAddr map[string][]*os.File // configured address -> one file per slot
	bound  map[string]string     // configured address -> the address bound (port 0 resolved)
	listen func(addr string) (*os.File, error)

	// HTTP/3 (sockets_udp.go): for an address whose server serves http3,
	// one UDP SO_REUSEPORT socket per slot on the TCP sockets' port, kept
	// by the same rules.
	udp       map[string][]*os.File // configured address -> one file per slot
	udpWanted map[string]bool       // configured address -> serves http3
	listenUDP func(addr string) (*os.File, error)
}

func newSocketPool() *socketPool {
	return &socketPool{byAddr: make(map[string][]*os.File), bound: make(map[string]string), listen: listenFile,
		udp: make(map[string][]*os.File), udpWanted: make(map[string]bool), listenUDP: listenPacketFile}
}

func listenFile(addr string) (*os.File, error) {
	ln, err := netutil.ListenReusePort("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close() // the dup'ed file keeps the socket open
	// Not (*TCPListener).File: passing such a file to a child switches the
	// shared socket to blocking mode, and a worker still accepting on it
	// would hang in accept(2).
	return netutil.ListenerFile(ln)
}

// ensure makes sure addr has at least n slots, opening sockets as needed.
// A port of 0 is resolved by the first socket; the others bind the same port.
func (p *socketPool) ensure(addr string, n int) error {
	fresh := len(p.byAddr[addr]) == 0 && n > 0
	if fresh {
		if err := netutil.CheckAddrFree("tcp", addr, p.owns()); err != nil {
			return fmt.Errorf("supervisor: listen %s: %w", addr, err)
		}
	}
	files := p.byAddr[addr]
	for len(files) < n {
		target := addr
		if b, ok := p.bound[addr]; ok {
			target = b
		}
		f, err := p.listen(target)
		if err != nil {
			return fmt.Errorf("supervisor: listen %s (slot %d): %w", addr, len(files), err)
		}
		if _, ok := p.bound[addr]; !ok {
			p.bound[addr] = boundAddr(f, addr)
		}
		files = append(files, f)
		p.byAddr[addr] = files
	}
	if fresh {
		// Once more, bound: another server that checked at the same
		// moment and bound too is seen now (as it sees this one), and
		// neither serves the address.
		if err := netutil.CheckAddrFree("tcp", p.bound[addr], p.owns()); err != nil {
			p.dropTCP(addr)
			return fmt.Errorf("supervisor: listen %s: %w", addr, err)
		}
	}
	return p.ensureUDP(addr, n)
}

// dropTCP closes addr's TCP sockets and forgets them.
func (p *socketPool) dropTCP(addr string) {
	for _, f := range p.byAddr[addr] {
		if f != nil {
			f.Close()
		}
	}
	delete(p.byAddr, addr)
	delete(p.bound, addr)
}

// owns returns whether a socket inode is one of the pool's, for
// netutil.CheckAddrFree, which asks only when the address is taken: the
// pool's inodes are read then, once.
func (p *socketPool) owns() func(ino uint64) bool {
	var inodes map[uint64]bool
	return func(ino uint64) bool {
		if inodes == nil {
			inodes = make(map[uint64]bool)
			for _, m := range []map[string][]*os.File{p.byAddr, p.udp} {
				for _, files := range m {
					for _, f := range files {
						if f == nil {
							continue
						}
						if i, err := netutil.SocketInode(f); err == nil {
							inodes[i] = true
						}
					}
				}
			}
		}
		return inodes[ino]
	}
}

// boundAddr is the address a socket file is bound to, or fallback.
func boundAddr(f *os.File, fallback string) string {
	ln, err := net.FileListener(f)
	if err != nil {
		return fallback
	}
	defer ln.Close()
	return ln.Addr().String()
}

// adopt takes sockets inherited from an old master (binary upgrade).
func (p *socketPool) adopt(addr string, slot int, f *os.File) {
	files := p.byAddr[addr]
	for len(files) <= slot {
		files = append(files, nil)
	}
	files[slot] = f
	p.byAddr[addr] = files
	if _, ok := p.bound[addr]; !ok {
		p.bound[addr] = boundAddr(f, addr)
	}
}

// slotsFor returns the slots worker w of n serves: its own, and every slot
// past n that maps to it (slot mod n).
func (p *socketPool) slotsFor(addr string, w, n int) []int {
	var out []int
	for s := range p.byAddr[addr] {
		if s%n == w && p.byAddr[addr][s] != nil {
			out = append(out, s)
		}
	}
	return out
}

// closeExcept closes the sockets of every address not in keep.
func (p *socketPool) closeExcept(keep map[string]bool) {
	for addr := range p.byAddr {
		if !keep[addr] {
			p.dropTCP(addr)
		}
	}
	p.closeUDPExcept(keep)
}

func (p *socketPool) closeAll() { p.closeExcept(nil) }

// addrs lists the configured addresses, sorted.
func (p *socketPool) addrs() []string {
	out := make([]string, 0, len(p.byAddr))
	for a := range p.byAddr {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// listeners describes the bound addresses for the ready line.
func (p *socketPool) listeners() []string {
	var out []string
	for _, a := range p.addrs() {
		out = append(out, p.bound[a]+" ("+strconv.Itoa(len(p.byAddr[a]))+" sockets)")
	}
	return out
}
