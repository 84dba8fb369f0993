package supervisor

import (
	"fmt"
	"os"

	"github.com/rockstar-dev/rockstar/netutil"
)

// UDP sockets for HTTP/3.
//
// A [[server]] with "http3" in its protocols serves HTTP/3 on the UDP port
// of its address. The master holds, for each worker slot, one UDP socket
// with SO_REUSEPORT on that port, beside the slot's TCP socket, and hands
// both to the slot's worker (FDSpec kinds "tcp" and "udp"). The kernel
// picks a reuseport socket by hashing the datagram's addresses, so the
// packets of one QUIC connection keep reaching the same slot's socket for
// as long as the set of sockets is unchanged; and since the master keeps
// the sockets open across worker restarts, reloads and binary upgrades,
// the set never shrinks while the address is configured.
//
// What a replaced worker's QUIC connections see is told in doc.go.

func listenPacketFile(addr string) (*os.File, error) {
	pc, err := netutil.ListenPacketReusePort("udp", addr)
	if err != nil {
		return nil, err
	}
	defer pc.Close() // the dup'ed file keeps the socket open
	return netutil.PacketConnFile(pc)
}

// wantUDP records whether addr's server serves HTTP/3; ensure then opens
// its UDP sockets too.
func (p *socketPool) wantUDP(addr string, want bool) {
	if want {
		p.udpWanted[addr] = true
	} else {
		delete(p.udpWanted, addr)
	}
}

// ensureUDP gives addr n UDP sockets when it serves HTTP/3, bound to the
// port its TCP sockets have.
func (p *socketPool) ensureUDP(addr string, n int) error {
	if !p.udpWanted[addr] {
		return nil
	}
	files := p.udp[addr]
	target := addr
	if b, ok := p.bound[addr]; ok {
		target = b
	}
	fresh := len(files) == 0 && n > 0
	if fresh {
		if err := netutil.CheckAddrFree("udp", target, p.owns()); err != nil {
			return fmt.Errorf("supervisor: listen udp %s: %w", target, err)
		}
	}
	for len(files) < n {
		f, err := p.listenUDP(target)
		if err != nil {
			return fmt.Errorf("supervisor: listen udp %s (slot %d): %w", target, len(files), err)
		}
		files = append(files, f)
		p.udp[addr] = files
	}
	if fresh { // once more, bound, as for TCP (ensure)
		if err := netutil.CheckAddrFree("udp", target, p.owns()); err != nil {
			p.dropUDP(addr)
			return fmt.Errorf("supervisor: listen udp %s: %w", target, err)
		}
	}
	return nil
}

// dropUDP closes addr's UDP sockets and forgets them.
func (p *socketPool) dropUDP(addr string) {
	for _, f := range p.udp[addr] {
		if f != nil {
			f.Close()
		}
	}
	delete(p.udp, addr)
}

// udpFile is slot's UDP socket of addr, or nil.
func (p *socketPool) udpFile(addr string, slot int) *os.File {
	files := p.udp[addr]
	if slot < len(files) {
		return files[slot]
	}
	return nil
}

// adoptUDP takes a UDP socket inherited from an old master.
func (p *socketPool) adoptUDP(addr string, slot int, f *os.File) {
	files := p.udp[addr]
	for len(files) <= slot {
		files = append(files, nil)
	}
	files[slot] = f
	p.udp[addr] = files
	p.udpWanted[addr] = true
}

// closeUDPExcept closes the UDP sockets of every address not in keep, or
// that no longer serves HTTP/3.
func (p *socketPool) closeUDPExcept(keep map[string]bool) {
	for addr := range p.udp {
		if keep[addr] && p.udpWanted[addr] {
			continue
		}
		p.dropUDP(addr)
		delete(p.udpWanted, addr)
	}
}
