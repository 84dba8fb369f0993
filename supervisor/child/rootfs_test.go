package child

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A static root opens a FIFO without waiting for a writer (so a FIFO put
// in place of a file after the worker's stat cannot hang it), reads
// regular files as before, and keeps its os.Root's walls.
func TestRootFSOpensWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fsys := rootFS{root}

	opened := make(chan error, 1)
	go func() {
		f, err := fsys.Open("pipe")
		if err == nil {
			f.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open the FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		// Release the blocked open with a writer, then fail.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-opened
		t.Fatal("opening a FIFO in a static root blocked")
	}

	f, err := fsys.Open("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "hello" {
		t.Fatalf("a.txt: %q, %v", b, err)
	}
	if info, err := fsys.Stat("pipe"); err != nil || info.Mode().IsRegular() {
		t.Fatalf("stat pipe: %v, %v", info, err)
	}
	for _, name := range []string{"../a.txt", "/etc/passwd", "out"} {
		if f, err := fsys.Open(name); err == nil {
			f.Close()
			t.Errorf("Open(%q) left the root", name)
		}
	}
}
