package cache

import "unsafe"

// wordBytes is mem as bytes, 8-byte aligned as NewStore wants.
func wordBytes(mem []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
}

// waiting is how many requests wait on another's fetch.
func (c *Cache) waiting() int { return int(c.waiters.Load()) }

func shmNow() int64 { return now() }
