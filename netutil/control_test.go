package netutil

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func frame(payload string) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func TestWriteReadMessageRoundTrip(t *testing.T) {
	msgs := []*Message{
		{Type: "ready"},
		{V: 1, ID: 7, Type: "health", Body: json.RawMessage(`{"state":"serving","uptime_ms":1234}`)},
		{ID: 1<<64 - 1, Type: "reload", Err: "rockstar.toml:3: workers: must be a number or \"auto\""},
		{ID: 3, Type: "config", Body: json.RawMessage(`{"html":"<b>&amp;</b>","s":"\u2028"}`)},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatalf("WriteMessage(%+v): %v", m, err)
		}
	}
	for _, want := range msgs {
		got, err := ReadMessage(&buf)
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		w := *want
		if w.V == 0 {
			w.V = ProtocolVersion
		}
		if !messagesEqual(got, &w) {
			t.Fatalf("got %+v (body %s), want %+v (body %s)", got, got.Body, w, w.Body)
		}
	}
	if _, err := ReadMessage(&buf); err != io.EOF {
		t.Fatalf("after the last frame: err = %v, want io.EOF", err)
	}
}

func TestWriteMessageDoesNotModifyItsArgument(t *testing.T) {
	m := &Message{Type: "stop"}
	if err := WriteMessage(io.Discard, m); err != nil {
		t.Fatal(err)
	}
	if m.V != 0 {
		t.Fatalf("m.V = %d after WriteMessage, want 0 (unchanged)", m.V)
	}
}

// countingWriter counts Write calls, to check one frame is one Write.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestWriteMessageIsOneWrite(t *testing.T) {
	var w countingWriter
	body := json.RawMessage(fmt.Sprintf(`{"pad":%q}`, bytes.Repeat([]byte("x"), 200<<10)))
	if err := WriteMessage(&w, &Message{Type: "metrics", Body: body}); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Fatalf("WriteMessage made %d Write calls, want 1", w.writes)
	}
	n := binary.BigEndian.Uint32(w.Bytes())
	if int(n) != w.Len()-4 {
		t.Fatalf("header says %d bytes, payload is %d", n, w.Len()-4)
	}
}

func TestWriteMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Message
		want error
	}{
		{"nil", nil, ErrBadMessage},
		{"no type", &Message{ID: 1}, ErrBadMessage},
		{"bad body", &Message{Type: "config", Body: json.RawMessage(`{"a":`)}, ErrBadMessage},
		{"newer version", &Message{V: ProtocolVersion + 1, Type: "health"}, ErrVersion},
		{"negative version", &Message{V: -1, Type: "health"}, ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteMessage(&buf, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("a failed WriteMessage wrote %d bytes", buf.Len())
			}
		})
	}
}

func TestReadMessageErrors(t *testing.T) {
	tooLarge := make([]byte, 4)
	binary.BigEndian.PutUint32(tooLarge, MaxFrame+1)
	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty input", nil, io.EOF},
		{"short header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"short body", frame(`{"v":1,"type":"x"}`)[:10], io.ErrUnexpectedEOF},
		{"header only", frame(`{"v":1,"type":"x"}`)[:4], io.ErrUnexpectedEOF},
		{"too large", tooLarge, ErrFrameTooLarge},
		{"empty frame", frame(""), ErrBadMessage},
		{"not json", frame("hello"), ErrBadMessage},
		{"trailing garbage", frame(`{"v":1,"type":"x"} x`), ErrBadMessage},
		{"array", frame(`[1,2]`), ErrBadMessage},
		{"wrong field type", frame(`{"v":1,"type":7}`), ErrBadMessage},
		{"missing type", frame(`{"v":1,"id":3}`), ErrBadMessage},
		{"empty type", frame(`{"v":1,"type":""}`), ErrBadMessage},
		{"missing version", frame(`{"type":"health"}`), ErrVersion},
		{"zero version", frame(`{"v":0,"type":"health"}`), ErrVersion},
		{"newer version", frame(`{"v":2,"id":9,"type":"health"}`), ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMessage(bytes.NewReader(tc.input))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadMessageNewerVersionReturnsTheRequest(t *testing.T) {
	m, err := ReadMessage(bytes.NewReader(frame(`{"v":2,"id":9,"type":"health","new_field":true}`)))
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
	if m == nil || m.ID != 9 || m.Type != "health" || m.V != 2 {
		t.Fatalf("message = %+v, want id 9 type health v 2 so the caller can answer it", m)
	}
}

func TestReadMessageIgnoresUnknownFields(t *testing.T) {
	m, err := ReadMessage(bytes.NewReader(frame(`{"v":1,"type":"health","added_later":[1,2]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "health" {
		t.Fatalf("type = %q", m.Type)
	}
}

func TestReadMessageLeavesTheNextFrame(t *testing.T) {
	var buf bytes.Buffer
	buf.Write(frame(`{"v":1,"type":"a"}`))
	buf.Write(frame(`{"v":1,"type":"b"}`))
	for _, want := range []string{"a", "b"} {
		m, err := ReadMessage(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != want {
			t.Fatalf("type = %q, want %q", m.Type, want)
		}
	}
}

// A peer that announces a frame of MaxFrame bytes and then sends a few must
// not make the reader allocate MaxFrame bytes.
func TestReadMessageLyingLengthAllocatesLittle(t *testing.T) {
	in := make([]byte, 4, 100)
	binary.BigEndian.PutUint32(in, MaxFrame)
	in = append(in, `{"v":1,"type":"x"`...)
	allocated := bytesAllocated(func() {
		if _, err := ReadMessage(bytes.NewReader(in)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	if allocated > 1<<20 {
		t.Fatalf("a %d-byte input that claims %d bytes allocated %d bytes", len(in), MaxFrame, allocated)
	}
}

// TestMaxFrameBoundary writes and reads a message whose JSON is exactly
// MaxFrame bytes, and refuses to write one a byte longer.
func TestMaxFrameBoundary(t *testing.T) {
	base, _ := json.Marshal(&Message{V: 1, Type: "config", Body: json.RawMessage(`""`)})
	body := make([]byte, MaxFrame-len(base)+3)
	for i := range body {
		body[i] = 'a'
	}
	body[0], body[len(body)-2] = '"', '"'
	exact := json.RawMessage(body[:len(body)-1])
	var buf bytes.Buffer
	if err := WriteMessage(&buf, &Message{Type: "config", Body: exact}); err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint32(buf.Bytes()); n != MaxFrame {
		t.Fatalf("frame is %d bytes, want %d", n, MaxFrame)
	}
	m, err := ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Body) != len(exact) {
		t.Fatalf("body is %d bytes, want %d", len(m.Body), len(exact))
	}
	body[len(body)-2], body[len(body)-1] = 'a', '"'
	if err := WriteMessage(&buf, &Message{Type: "config", Body: json.RawMessage(body)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame of MaxFrame+1 bytes: err = %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("the refused frame wrote %d bytes", buf.Len())
	}
}

func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestConnRequestReply(t *testing.T) {
	a, b := net.Pipe()
	master, worker := NewConn(a), NewConn(b)
	defer master.Close()
	defer worker.Close()

	// The worker answers every request with its id.
	go func() {
		for {
			m, err := worker.Recv()
			if err != nil {
				return
			}
			reply := &Message{ID: m.ID, Type: m.Type, Body: json.RawMessage(fmt.Sprintf(`{"echo":%d}`, m.ID))}
			if m.Type == "bad" {
				reply.Body, reply.Err = nil, "no such verb"
			}
			if err := worker.Send(reply); err != nil {
				return
			}
		}
	}()

	// Many goroutines send at once; the replies come back whole.
	const n = 50
	replies := make(chan *Message, n)
	recvErr := make(chan error, 1)
	go func() {
		for range n {
			m, err := master.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			replies <- m
		}
	}()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			typ := "health"
			if i == 0 {
				typ = "bad"
			}
			if err := master.Send(&Message{ID: uint64(i + 1), Type: typ}); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	deadline := time.After(10 * time.Second)
	for range n {
		select {
		case m := <-replies:
			if seen[m.ID] {
				t.Fatalf("reply %d twice", m.ID)
			}
			seen[m.ID] = true
			if m.ID == 1 {
				if m.Err != "no such verb" {
					t.Fatalf("reply 1 err = %q", m.Err)
				}
				continue
			}
			if want := fmt.Sprintf(`{"echo":%d}`, m.ID); string(m.Body) != want {
				t.Fatalf("reply %d body = %s, want %s", m.ID, m.Body, want)
			}
		case err := <-recvErr:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("got %d of %d replies", len(seen), n)
		}
	}
}

func TestConnRecvEOFAfterClose(t *testing.T) {
	a, b := net.Pipe()
	c := NewConn(a)
	b.Close()
	if _, err := c.Recv(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	c.Close()
}

func TestConnDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv past the deadline: err = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Nobody reads b, so the write blocks until the deadline.
	if err := c.Send(&Message{Type: "health"}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send past the deadline: err = %v, want os.ErrDeadlineExceeded", err)
	}

	type rwc struct {
		io.Reader
		io.Writer
		io.Closer
	}
	nd := NewConn(rwc{bytes.NewReader(nil), io.Discard, io.NopCloser(nil)})
	if err := nd.SetReadDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		t.Fatalf("err = %v, want os.ErrNoDeadline", err)
	}
	if err := nd.SetWriteDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		t.Fatalf("err = %v, want os.ErrNoDeadline", err)
	}
}

// messagesEqual compares messages field by field, bodies byte for byte.
func messagesEqual(a, b *Message) bool {
	return a.V == b.V && a.ID == b.ID && a.Type == b.Type && a.Err == b.Err && bytes.Equal(a.Body, b.Body)
}

func FuzzReadMessage(f *testing.F) {
	// More seeds are checked in under testdata/fuzz/FuzzReadMessage.
	f.Add(frame(`{"v":1,"id":1,"type":"health"}`))
	f.Add(frame(`{"v":1,"type":"config","body":{"hosts":[{"hostname":"a.example"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *Message
		var err error
		allocated := bytesAllocated(func() {
			m, err = ReadMessage(bytes.NewReader(data))
		})
		// JSON decoding allocates a few times the frame; the frame itself
		// is bounded by the input here, and never by the claimed length.
		if limit := uint64(MaxFrame); allocated > limit {
			t.Fatalf("ReadMessage of %d bytes allocated %d bytes, more than MaxFrame", len(data), allocated)
		}
		if err != nil {
			if m != nil && !errors.Is(err, ErrVersion) {
				t.Fatalf("a message (%+v) came with error %v", m, err)
			}
			return
		}
		if m.Type == "" || m.V < 1 || m.V > ProtocolVersion {
			t.Fatalf("accepted %+v", m)
		}
		var buf bytes.Buffer
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		first := append([]byte(nil), buf.Bytes()...)
		m2, err := ReadMessage(&buf)
		if err != nil {
			t.Fatalf("decoding the re-encoded %q: %v", first, err)
		}
		// The body comes back compacted; otherwise it is the same.
		want := *m
		if len(m.Body) > 0 {
			var compact bytes.Buffer
			if err := json.Compact(&compact, m.Body); err != nil {
				t.Fatalf("accepted a body that is not JSON: %q", m.Body)
			}
			want.Body = compact.Bytes()
		}
		if !messagesEqual(m2, &want) {
			t.Fatalf("round trip: got %+v (body %q), want %+v (body %q)", m2, m2.Body, want, want.Body)
		}
		// And a second round trip is byte for byte the first.
		if err := WriteMessage(&buf, m2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), first) {
			t.Fatalf("re-encoding is not stable: %q then %q", first, buf.Bytes())
		}
	})
}
