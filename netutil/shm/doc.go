// Package shm holds the pieces of memory that the master and its workers
// share:
//
//   - region.go: one shared memory region (Region): the master makes it with
//     memfd_create, sizes and seals it, and maps it MAP_SHARED (Create); a
//     worker maps the descriptor it inherited (Open), and the new master of
//     a binary upgrade maps and keeps the old master's (Adopt); both refuse
//     a descriptor not sealed against shrinking. Words of the region are
//     reached as atomics by offset.
//   - clock.go: one clock for every process, CLOCK_MONOTONIC in nanoseconds
//     (Now), and the conversion of a time.Time to it (Mono), so that a
//     timestamp one worker stores is understood by all.
//   - lock.go: a spin lock in one word that holds its owner's pid and start
//     time (OwnerID), and that a waiter takes over when the owner died
//     holding it, even if its pid went to another process (Lock, Unlock,
//     Alive).
//   - gcra.go: the generic cell rate algorithm (GCRA), the one step every
//     rate limit takes: on a single bucket in one word, by compare-and-swap
//     (GCRA.Allow), and on the entries of a Table.
//   - table.go: a fixed-size, set-associative table of per-client GCRA
//     buckets (Table), like nginx's limit_req_zone: it lives in any []uint64,
//     shared or not, and evicts the least recently used entry of a full set.
//
// Nothing in the region holds a Go pointer: it is plain words that other
// processes read and write, through atomics or under a Lock.
// The region needs Linux; elsewhere Create, Open and Adopt return
// errors.ErrUnsupported, and GCRA, Table and the clock work in one process.
package shm
