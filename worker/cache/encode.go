package cache

import (
	"encoding/binary"

	"github.com/valyala/fasthttp"
)

// A stored response is: status (2 bytes), header count (2), then each
// header as name length (2), value length (4), name, value; then the body.
// Headers that belong to one connection or one answer are not kept.

func skipHeader(k []byte) bool {
	switch string(k) {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Date",
		"Server", "Set-Cookie", "Proxy-Connection", "Upgrade", "Te", "Trailer",
		"X-Cache", "Age":
		return true
	}
	return false
}

// encode appends r, whose body is whole, to dst.
func encode(dst []byte, r *fasthttp.Response) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(r.StatusCode()))
	countAt := len(dst)
	dst = append(dst, 0, 0)
	n := 0
	if ct := r.Header.ContentType(); len(ct) > 0 {
		dst = appendHeader(dst, []byte("Content-Type"), ct)
		n++
	}
	for k, v := range r.Header.All() {
		if skipHeader(k) || string(k) == "Content-Type" {
			continue
		}
		dst = appendHeader(dst, k, v)
		n++
	}
	binary.LittleEndian.PutUint16(dst[countAt:], uint16(n))
	return append(dst, r.Body()...)
}

func appendHeader(dst, k, v []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(k)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	return append(append(dst, k...), v...)
}

// decode sets r from a stored response; false if b is not one.
func decode(b []byte, r *fasthttp.Response) bool {
	if len(b) < 4 {
		return false
	}
	r.SetStatusCode(int(binary.LittleEndian.Uint16(b)))
	n := int(binary.LittleEndian.Uint16(b[2:]))
	b = b[4:]
	for range n {
		if len(b) < 6 {
			return false
		}
		kl, vl := int(binary.LittleEndian.Uint16(b)), int(binary.LittleEndian.Uint32(b[2:]))
		b = b[6:]
		if len(b) < kl+vl {
			return false
		}
		k, v := b[:kl], b[kl:kl+vl]
		if string(k) == "Content-Type" {
			r.Header.SetContentTypeBytes(v)
		} else {
			r.Header.AddBytesKV(k, v)
		}
		b = b[kl+vl:]
	}
	r.SetBody(b)
	return true
}
