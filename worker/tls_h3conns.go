package worker

import (
	"context"
	"net"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// quicConns is the set of a binding's open HTTP/3 connections, so that a
// graceful stop can close them itself when its deadline comes.
type quicConns struct {
	mu    sync.Mutex
	conns map[*quic.Conn]struct{}
}

// quicRemoteKey is the context key of an HTTP/3 connection's peer as a
// *net.TCPAddr (see track).
type quicRemoteKey struct{}

// track is the http3.Server's ConnContext: it adds c to the set until c's
// context ends. It also gives the connection's context its peer as a
// *net.TCPAddr, made once per connection, for its requests' RemoteAddr:
// fasthttp's RemoteIP knows only that type, and would report 0.0.0.0 for
// the *net.UDPAddr quic-go has (so that every HTTP/3 client shared one
// client_ip bucket).
func (q *quicConns) track(ctx context.Context, c *quic.Conn) context.Context {
	if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		ctx = context.WithValue(ctx, quicRemoteKey{}, &net.TCPAddr{IP: ua.IP, Port: ua.Port, Zone: ua.Zone})
	}
	q.mu.Lock()
	if q.conns == nil {
		q.conns = make(map[*quic.Conn]struct{})
	}
	q.conns[c] = struct{}{}
	q.mu.Unlock()
	context.AfterFunc(c.Context(), func() {
		q.mu.Lock()
		delete(q.conns, c)
		q.mu.Unlock()
	})
	return ctx
}

// closeAll closes every connection with CONNECTION_CLOSE; each Close
// returns once its connection has said so.
func (q *quicConns) closeAll() {
	q.mu.Lock()
	conns := make([]*quic.Conn, 0, len(q.conns))
	for c := range q.conns {
		conns = append(conns, c)
	}
	q.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { _ = c.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "") })
	}
	wg.Wait()
}

// shutdownH3 stops HTTP/3 gracefully until ctx ends: GOAWAY, then the
// requests in flight may finish. At ctx's end it closes the connections
// left itself: quic-go's Shutdown would close them too, but then goes on
// waiting for every handler still running, and the deadline is the
// deadline. The goroutine left to quic-go's Shutdown ends when the last of
// those handlers returns (its stream is gone: its answer is dropped).
func (ts *tlsServe) shutdownH3(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- ts.h3srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		ts.h3.closeAll()
		return ctx.Err()
	}
}
