// Package netutil holds the small OS-level pieces that both the master and
// the workers use:
//
//   - reuseport.go, reuseport_unix.go, reuseport_windows.go: SO_REUSEPORT
//     TCP listeners and UDP sockets (ListenReusePort,
//     ListenPacketReusePort), one per worker slot, and the plain exclusive
//     bind (ListenExclusive, ListenPacketExclusive).
//   - inuse.go, inuse_linux.go, inuse_other.go, inuse_unix.go,
//     inuse_windows.go: whether another process already listens on an
//     address, and which (CheckAddrFree, AddrInUseError, ErrAddrInUse):
//     with SO_REUSEPORT the kernel would let a second server share it;
//     SocketInode names a socket as /proc does.
//   - control.go: the control-message framing between master and workers and
//     between the CLI and the master: versioned, length-prefixed JSON
//     (Message, WriteMessage, ReadMessage) and Conn for request and reply.
//   - fds.go, fds_unix.go, fds_windows.go: passing sockets to a child
//     through exec.Cmd.ExtraFiles (ListenerFile, PacketConnFile), taking
//     them up in the child (FileListener, FilePacketConn), and the
//     environment encoding of which inherited fd is what (FDSpec,
//     EncodeFDs, DecodeFDs).
//   - socketpair.go: the master-worker control channel (SocketPair, FileConn).
//   - peercred.go: the peer's pid, uid and gid on a Unix socket (PeerCred),
//     for the control socket's permission check.
//   - pdeathsig.go: no orphaned workers (SetParentDeathSignal, ParentAlive).
//   - sys_linux.go, sys_other.go: the Linux system calls of SocketPair,
//     PeerCred and SetParentDeathSignal, and their stubs elsewhere.
//   - unsupported.go: ErrUnsupported, what a piece this system lacks
//     returns.
//   - shm (a package of its own): the memory the master shares with its
//     workers (memfd regions, one monotonic clock, spin locks that survive a
//     dead owner, the GCRA step and per-client GCRA tables).
//
// Everything here is a thin, tested wrapper over a system call or a wire
// format; nothing keeps global state. Errors are wrapped "netutil: ..."
// sentinels (or the system's errors), to be checked with errors.Is.
// The master and its workers run on Linux, and the package builds
// everywhere (GOOS=windows, darwin, freebsd): on other systems SocketPair,
// PeerCred and SetParentDeathSignal return errors wrapping ErrUnsupported
// (which wraps errors.ErrUnsupported and names the system), and so do, on
// Windows, SO_REUSEPORT, passing sockets and SocketInode; CheckAddrFree
// needs Linux's /proc and elsewhere finds every address free.
package netutil
