package child

import (
	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// attachPacketConn takes an inherited UDP socket (HTTP/3) and gives it to
// the listener of the same address and slot, which comes before it in the
// fd list; a socket without one is closed.
func attachPacketConn(listeners []listenerSpec, s netutil.FDSpec) error {
	pc, err := netutil.FilePacketConn(uintptr(s.FD), s.Addr)
	if err != nil {
		return err
	}
	for i := range listeners {
		if listeners[i].addr == s.Addr && listeners[i].slot == s.Slot && listeners[i].pc == nil {
			listeners[i].pc = pc
			return nil
		}
	}
	pc.Close()
	return nil
}

// serve serves the listener with srv: TLS with the ALPN split (and
// HTTP/3 on the slot's UDP socket) when the server has a certificate,
// plain HTTP/1.1 otherwise.
func (l listenerSpec) serve(srv worker.Server, sc config.Server) error {
	if sc.TLS() {
		pc := l.pc
		if pc != nil && !sc.Serves(config.ProtocolHTTP3) {
			pc.Close()
			pc = nil
		}
		return srv.ServeTLS(l.ln, pc, sc.TLSCert, sc.TLSKey)
	}
	if l.pc != nil {
		l.pc.Close()
	}
	return srv.Serve(l.ln)
}

// close closes the sockets of a listener no server wants.
func (l listenerSpec) close() {
	l.ln.Close()
	if l.pc != nil {
		l.pc.Close()
	}
}
