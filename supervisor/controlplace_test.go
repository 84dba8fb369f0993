package supervisor_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A control_socket in a directory that other users can write (0777, or
// 1777 like /tmp) is refused by `rockstar check` and `rockstar run`, with
// an error naming supervisor.control_socket, and the directory keeps its
// mode; so is a regular file at the socket's path, which stays intact.
func TestControlSocketUnsafePlaces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "own", "file.sock")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{"open": 0o777, "sticky": 0o777 | fs.ModeSticky}
	for name, mode := range modes {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, sock := range []string{"open/ctl.sock", "sticky/ctl.sock", "own/file.sock"} {
		cfg := filepath.Join(dir, strings.ReplaceAll(sock, "/", "-")+".toml")
		text := strings.Replace(configText(1, "hello"), `control_socket = "run/ctl.sock"`, `control_socket = "`+sock+`"`, 1)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"check", "run"} {
			code, out := cli(t, cmd, "-c", cfg)
			if code != 1 || !strings.Contains(out, "supervisor.control_socket") {
				t.Errorf("rockstar %s with control_socket %s: exit %d, want 1 and an error naming supervisor.control_socket:\n%s", cmd, sock, code, out)
			}
		}
	}
	for name, mode := range modes {
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode()&(fs.ModePerm|fs.ModeSticky) != mode {
			t.Errorf("directory %s now %v, want %v untouched", name, fi.Mode(), mode)
		}
		if _, err := os.Lstat(filepath.Join(dir, name, "ctl.sock")); err == nil {
			t.Errorf("a socket was made in directory %s", name)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Errorf("the regular file at the socket's path now holds %q (%v)", b, err)
	}
}
