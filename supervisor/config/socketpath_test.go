package config

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// CheckSocketPath refuses a directory other users can write (0777, 1777,
// 0770) or one of another owner (or reached by another owner's symlink), a
// directory above it that others can write without the sticky bit, and a
// path that holds anything but a socket; it accepts a missing directory
// (under /tmp-like 1777 too), an empty path and a stale socket, and
// changes nothing on disk either way.
func TestCheckSocketPath(t *testing.T) {
	base := t.TempDir()
	mkdir := func(t *testing.T, name string, mode fs.FileMode) string {
		t.Helper()
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name string
		mode fs.FileMode
	}{
		{"world-writable", 0o777},
		{"sticky, like tmp", 0o777 | fs.ModeSticky},
		{"group-writable", 0o770},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mkdir(t, tc.name, tc.mode)
			err := CheckSocketPath(filepath.Join(d, "ctl.sock"))
			if !errors.Is(err, ErrUnsafeSocketPath) {
				t.Errorf("CheckSocketPath in a %v directory: %v, want ErrUnsafeSocketPath", tc.mode, err)
			}
			if fi, _ := os.Stat(d); fi.Mode()&(fs.ModePerm|fs.ModeSticky) != tc.mode {
				t.Errorf("directory mode now %v, want %v untouched", fi.Mode(), tc.mode)
			}
		})
	}

	t.Run("another owner", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory to nobody (65534)")
		}
		d := mkdir(t, "nobody", 0o755)
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocketPath(filepath.Join(d, "ctl.sock")); !errors.Is(err, ErrUnsafeSocketPath) {
			t.Errorf("CheckSocketPath in nobody's directory: %v, want ErrUnsafeSocketPath", err)
		}
	})

	t.Run("above: writable by others, not sticky", func(t *testing.T) {
		open := mkdir(t, "open-parent", 0o777)
		d := filepath.Join(open, "run")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(d, "ctl.sock"), filepath.Join(open, "missing", "ctl.sock")} {
			if err := CheckSocketPath(p); !errors.Is(err, ErrUnsafeSocketPath) {
				t.Errorf("CheckSocketPath(%s) under a 0777 directory: %v, want ErrUnsafeSocketPath", p, err)
			}
		}
	})
	t.Run("above: sticky like tmp", func(t *testing.T) {
		sticky := mkdir(t, "sticky-parent", 0o777|fs.ModeSticky)
		if err := CheckSocketPath(filepath.Join(sticky, "missing", "ctl.sock")); err != nil {
			t.Errorf("CheckSocketPath for a directory to make under a 1777 one: %v", err)
		}
	})
	t.Run("symlinked directory of another owner", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a symlink to nobody (65534)")
		}
		target := mkdir(t, "target", 0o700)
		link := filepath.Join(base, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocketPath(filepath.Join(link, "ctl.sock")); err != nil {
			t.Errorf("CheckSocketPath through this user's symlink: %v", err)
		}
		if err := os.Lchown(link, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocketPath(filepath.Join(link, "ctl.sock")); !errors.Is(err, ErrUnsafeSocketPath) {
			t.Errorf("CheckSocketPath through nobody's symlink: %v, want ErrUnsafeSocketPath", err)
		}
	})

	own := mkdir(t, "own", 0o755)
	t.Run("regular file at the path", func(t *testing.T) {
		p := filepath.Join(own, "file.sock")
		if err := os.WriteFile(p, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocketPath(p); !errors.Is(err, ErrUnsafeSocketPath) {
			t.Errorf("CheckSocketPath on a regular file: %v, want ErrUnsafeSocketPath", err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "precious" {
			t.Errorf("the file now holds %q (%v)", b, err)
		}
	})
	t.Run("symlink at the path", func(t *testing.T) {
		sock := filepath.Join(own, "real.sock")
		ln := listenUnix(t, sock)
		defer ln.Close()
		p := filepath.Join(own, "link.sock")
		if err := os.Symlink(sock, p); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocketPath(p); !errors.Is(err, ErrUnsafeSocketPath) {
			t.Errorf("CheckSocketPath on a symlink to a socket: %v, want ErrUnsafeSocketPath", err)
		}
	})
	t.Run("stale socket", func(t *testing.T) {
		p := filepath.Join(own, "stale.sock")
		listenUnix(t, p).Close()
		if err := CheckSocketPath(p); err != nil {
			t.Errorf("CheckSocketPath on a stale socket: %v", err)
		}
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != fs.ModeSocket {
			t.Errorf("the stale socket is gone: %v %v", fi, err)
		}
	})
	for _, p := range []string{filepath.Join(own, "none.sock"), filepath.Join(base, "missing", "dir", "ctl.sock")} {
		if err := CheckSocketPath(p); err != nil {
			t.Errorf("CheckSocketPath(%s): %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckSocketPath created the missing directory (%v)", err)
	}
}

// listenUnix binds a Unix socket at p that stays on disk when closed.
func listenUnix(t *testing.T, p string) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	return ln
}

// Load reports an unsafe control socket as a system problem of
// supervisor.control_socket, at its line.
func TestLoadChecksControlSocket(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "r.toml"), `[supervisor]
control_socket = "shared/ctl.sock"
[[server]]
listen = ":8080"
[[host]]
hostname = "a.test"
respond = "a"
`)
	_, err := Load(filepath.Join(dir, "r.toml"))
	got := problems(t, err)
	if len(got) != 1 || got[0].Field != "supervisor.control_socket" || got[0].Line != 2 ||
		!errors.Is(got[0], ErrSystem) || !errors.Is(got[0], ErrUnsafeSocketPath) {
		t.Fatalf("Load: %v, want one ErrSystem and ErrUnsafeSocketPath problem of supervisor.control_socket at line 2", err)
	}
}
