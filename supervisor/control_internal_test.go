package supervisor

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

func socketConfig(path string) *config.Config {
	return &config.Config{Supervisor: config.Supervisor{ControlSocket: path}}
}

// listenControl uses an existing directory as it is, refusing (and leaving
// alone) one that others can write; it refuses a regular file at the
// socket's path and keeps it; it replaces a stale socket; it creates a
// missing directory with mode 0700.
func TestListenControlPlaces(t *testing.T) {
	base := t.TempDir()
	m := New(Options{ConfigPath: "unused"})
	for i, mode := range []fs.FileMode{0o777, 0o777 | fs.ModeSticky} {
		d := filepath.Join(base, "shared"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		ln, err := m.listenControl(socketConfig(filepath.Join(d, "ctl.sock")))
		if !errors.Is(err, config.ErrUnsafeSocketPath) {
			t.Errorf("listenControl in a %v directory: %v, want ErrUnsafeSocketPath", mode, err)
		}
		if ln != nil {
			ln.Close()
		}
		if fi, _ := os.Stat(d); fi.Mode()&(fs.ModePerm|fs.ModeSticky) != mode {
			t.Errorf("directory mode now %v, want %v untouched", fi.Mode(), mode)
		}
		if _, err := os.Lstat(filepath.Join(d, "ctl.sock")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a socket was made in the %v directory (%v)", mode, err)
		}
	}

	own := filepath.Join(base, "own")
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(own, "file.sock")
	if err := os.WriteFile(file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ln, err := m.listenControl(socketConfig(file)); !errors.Is(err, config.ErrUnsafeSocketPath) {
		t.Errorf("listenControl on a regular file: %v, want ErrUnsafeSocketPath", err)
		if ln != nil {
			ln.Close()
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Errorf("the regular file now holds %q (%v)", b, err)
	}

	stale := filepath.Join(own, "stale.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	ln, err := m.listenControl(socketConfig(stale))
	if err != nil {
		t.Fatalf("listenControl on a stale socket: %v", err)
	}
	c, err := net.Dial("unix", stale)
	if err != nil {
		t.Errorf("the replaced socket does not answer: %v", err)
	} else {
		c.Close()
	}
	ln.Close()
	if fi, _ := os.Stat(own); fi.Mode().Perm() != 0o755 {
		t.Errorf("the existing directory's mode changed to %v", fi.Mode())
	}

	missing := filepath.Join(base, "missing", "run", "ctl.sock")
	ln, err = m.listenControl(socketConfig(missing))
	if err != nil {
		t.Fatalf("listenControl in a missing directory: %v", err)
	}
	ln.Close()
	if fi, err := os.Stat(filepath.Dir(missing)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory %v (%v), want mode 0700", fi, err)
	}
}

// The pid file is written through a fresh temporary file: a symlink
// planted at the name the master once used (path.tmpPID) is not followed,
// and no temporary file stays behind.
func TestPIDFileIgnoresPlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rockstar.pid")
	planted := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.Symlink(victim, planted); err != nil {
		t.Fatal(err)
	}
	m := New(Options{ConfigPath: "unused"})
	if err := m.writePIDFile(&config.Config{Supervisor: config.Supervisor{PIDFile: path}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("pid file %v (%v), want a regular file of mode 0644", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.Contains(n, ".tmp") && filepath.Join(dir, n) != planted {
			t.Errorf("temporary file %s left behind", n)
		}
	}
}
