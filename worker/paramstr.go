package worker

import "unsafe"

// boxedString returns a copy of b as a string stored in an interface value, with one
// allocation instead of the two that any(string(b)) costs (one for the bytes,
// one for the string header the interface points to).
//
// The block holds the 16-byte string header followed by the bytes; the
// header points into the same block. The block is pointer-free as far as the
// garbage collector knows, which is safe: its only pointer points into
// itself, and whoever holds the interface or the string keeps the block alive.
func boxedString(b string) any {
	if len(b) == 0 {
		return ""
	}
	const hdr = unsafe.Sizeof("")
	block := make([]byte, int(hdr)+len(b))
	copy(block[hdr:], b)
	sp := (*string)(unsafe.Pointer(&block[0]))
	*sp = unsafe.String(&block[hdr], len(b))
	var e any = ""
	(*eface)(unsafe.Pointer(&e)).data = unsafe.Pointer(sp)
	return e
}

// eface is the layout of an empty interface value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}
