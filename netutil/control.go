package netutil

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ProtocolVersion is the version of the control protocol this binary speaks.
// A reader accepts messages whose V is 1..ProtocolVersion, so a newer binary
// can still read an older peer during a binary upgrade; bump it only for a
// change an older reader would misread, not for a new optional field (readers
// ignore fields they do not know).
const ProtocolVersion = 1

// MaxFrame is the largest JSON payload, in bytes, that WriteMessage writes or
// ReadMessage accepts. It bounds what one peer can make the other allocate.
const MaxFrame = 16 << 20

// Errors returned, wrapped, by WriteMessage and ReadMessage. Check them with
// errors.Is.
var (
	// ErrFrameTooLarge means a frame's length exceeds MaxFrame.
	ErrFrameTooLarge = errors.New("netutil: control frame too large")
	// ErrVersion means a message carries a protocol version outside
	// 1..ProtocolVersion: a newer peer, or a zero (missing) version.
	ErrVersion = errors.New("netutil: unsupported control protocol version")
	// ErrBadMessage means a frame is not a valid message: empty, bad JSON,
	// or no type.
	ErrBadMessage = errors.New("netutil: bad control message")
)

// Message is one control message between the master and a worker, or between
// the CLI and the master. A reply carries its request's ID and Type, and Err
// when the request failed.
type Message struct {
	V    int             `json:"v"`              // protocol version; WriteMessage fills in ProtocolVersion when zero
	ID   uint64          `json:"id,omitempty"`   // request id; a reply carries its request's id
	Type string          `json:"type"`           // "ready", "health", "metrics", "config", "drain", "stop", CLI verbs
	Body json.RawMessage `json:"body,omitempty"` // type-specific payload
	Err  string          `json:"err,omitempty"`  // set on a failed reply
}

const frameHeader = 4

// encodeFrame returns m as one frame: a 4-byte big-endian length, then the
// JSON. It does not modify m.
func encodeFrame(m *Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrBadMessage)
	}
	msg := *m
	if msg.V == 0 {
		msg.V = ProtocolVersion
	}
	if msg.V < 1 || msg.V > ProtocolVersion {
		return nil, fmt.Errorf("%w: writing version %d, this side speaks 1..%d", ErrVersion, msg.V, ProtocolVersion)
	}
	if msg.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrBadMessage)
	}
	var buf bytes.Buffer
	buf.Grow(frameHeader + 64 + len(msg.Body) + len(msg.Err))
	buf.Write(make([]byte, frameHeader))
	enc := json.NewEncoder(&buf)
	// Bodies are passed through as they are (compacted, not HTML-escaped):
	// nothing on this channel is HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&msg); err != nil {
		return nil, fmt.Errorf("%w: encode %q: %w", ErrBadMessage, msg.Type, err)
	}
	b := buf.Bytes()
	b = b[:len(b)-1] // Encode's trailing newline
	n := len(b) - frameHeader
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %q is %d bytes, limit %d", ErrFrameTooLarge, msg.Type, n, MaxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// WriteMessage writes m to w as one frame, a 4-byte big-endian length and
// then the message as JSON, in a single Write call, so that frames written by
// one writer at a time to a stream socket are never interleaved. A zero m.V
// is written as ProtocolVersion; m itself is not modified. A message with no
// Type, or a Body that is not valid JSON, is an error wrapping ErrBadMessage;
// one whose JSON exceeds MaxFrame wraps ErrFrameTooLarge.
func WriteMessage(w io.Writer, m *Message) error {
	b, err := encodeFrame(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("netutil: write %q message: %w", m.Type, err)
	}
	return nil
}

// ReadMessage reads one frame written by WriteMessage and decodes it.
//
// It returns io.EOF, unwrapped, when r ends cleanly before a frame, and
// io.ErrUnexpectedEOF when it ends inside one. A length over MaxFrame is an
// error wrapping ErrFrameTooLarge, and nothing is read past the header (the
// stream is then out of step and should be closed). ReadMessage never
// allocates more than the frame's length at once, and allocates only as the
// bytes arrive, so a peer that announces a large frame and stalls costs
// little. Bad JSON, an empty frame or a missing type wrap ErrBadMessage.
// Fields the reader does not know are ignored.
//
// A version outside 1..ProtocolVersion wraps ErrVersion. In that case only,
// the decoded message is returned along with the error, so that the caller
// can answer the request's ID with an error reply rather than hang up.
func ReadMessage(r io.Reader) (*Message, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err // io.EOF on a clean end, io.ErrUnexpectedEOF inside the header
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxFrame)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrBadMessage)
	}
	b, err := readFull(r, int(n))
	if err != nil {
		return nil, err
	}
	m := new(Message)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if m.V < 1 || m.V > ProtocolVersion {
		return m, fmt.Errorf("%w: peer sent version %d, this side speaks 1..%d", ErrVersion, m.V, ProtocolVersion)
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrBadMessage)
	}
	return m, nil
}

// readChunk is the most readFull allocates before the bytes it is asked for
// have started to arrive.
const readChunk = 64 << 10

// readFull reads exactly n bytes. Past readChunk it grows its buffer as the
// data comes (doubling, capped at n), so a peer that claims a large frame
// must actually send it before it costs memory.
func readFull(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, readChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(2*cap(b), n))
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Conn carries framed messages over a stream: the parent's end of a worker's
// socketpair, a worker's end, or a CLI connection to the master's control
// socket. Send may be called from several goroutines at once; each message is
// written whole. Recv is meant for one reading goroutine (calls are
// serialized). Conn does no dispatch: matching replies to requests by ID is
// the caller's job. After Send or Recv fails the stream may be out of step;
// close the Conn.
type Conn struct {
	rwc io.ReadWriteCloser
	wmu sync.Mutex
	rmu sync.Mutex
	r   *bufio.Reader
}

// NewConn returns a Conn that reads and writes messages on c. c is usually a
// net.Conn (see FileConn); the Conn owns it from now on.
func NewConn(c io.ReadWriteCloser) *Conn {
	return &Conn{rwc: c, r: bufio.NewReader(c)}
}

// Send writes m as one frame. It is safe for concurrent use: frames from
// concurrent calls are never interleaved.
func (c *Conn) Send(m *Message) error {
	b, err := encodeFrame(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.rwc.Write(b); err != nil {
		return fmt.Errorf("netutil: send %q message: %w", m.Type, err)
	}
	return nil
}

// Recv reads the next message; see ReadMessage for its errors.
func (c *Conn) Recv() (*Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return ReadMessage(c.r)
}

// Close closes the underlying connection, which unblocks a pending Recv.
func (c *Conn) Close() error {
	return c.rwc.Close()
}

// SetReadDeadline sets the deadline for Recv, when the underlying connection
// supports deadlines (a net.Conn does); otherwise it returns an error wrapping
// os.ErrNoDeadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	d, ok := c.rwc.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		return fmt.Errorf("netutil: set read deadline: %w", os.ErrNoDeadline)
	}
	return d.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for Send, so that a peer that stops
// reading cannot block the sender forever; see SetReadDeadline for
// connections without deadlines.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	d, ok := c.rwc.(interface{ SetWriteDeadline(time.Time) error })
	if !ok {
		return fmt.Errorf("netutil: set write deadline: %w", os.ErrNoDeadline)
	}
	return d.SetWriteDeadline(t)
}
