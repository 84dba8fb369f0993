package netutil

import (
	"context"
	"net"
)

// ListenConfig is the net.ListenConfig that every Rockstar listener uses: it
// sets SO_REUSEPORT (and SO_REUSEADDR) before bind, so that several sockets,
// in one process or in several, can listen on the same address and the
// kernel spreads new connections between their accept queues.
//
// That is also what a second, unrelated server of the same user gets: its
// bind succeeds and the two split the traffic. The supervisor checks
// with CheckAddrFree before it takes an address; a standalone server that
// wants the plain, exclusive bind (a second process fails with
// EADDRINUSE) listens with ListenExclusive instead.
var ListenConfig = net.ListenConfig{Control: reusePortControl}

// ListenReusePort opens a TCP listener on addr with SO_REUSEPORT set.
// network is "tcp", "tcp4" or "tcp6". Windows has no SO_REUSEPORT: there
// it fails with an error wrapping ErrUnsupported (ListenExclusive works).
func ListenReusePort(network, addr string) (net.Listener, error) {
	return ListenConfig.Listen(context.Background(), network, addr)
}

// ListenPacketReusePort opens a UDP socket on addr with SO_REUSEPORT set,
// for HTTP/3.
func ListenPacketReusePort(network, addr string) (net.PacketConn, error) {
	return ListenConfig.ListenPacket(context.Background(), network, addr)
}

// ListenExclusive opens a TCP listener on addr without SO_REUSEPORT: the
// plain bind of net.Listen (SO_REUSEADDR only), which fails with an error
// wrapping syscall.EADDRINUSE when another socket listens on the address,
// in this process or another. Pass it to worker's Server.Serve (or
// ServeTLS) for a standalone server that must have its port to itself.
func ListenExclusive(network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), network, addr)
}

// ListenPacketExclusive is ListenExclusive for a UDP socket (HTTP/3).
func ListenPacketExclusive(network, addr string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(context.Background(), network, addr)
}
