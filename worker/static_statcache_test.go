package worker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The stat cache answers a name it saw within statValid from memory, a
// file that came or changed since then once statValid has passed.
func TestStatCache(t *testing.T) {
	dir := t.TempDir()
	fsys := os.DirFS(dir)
	c := newStatCache()
	if _, err := c.stat(fsys, "new.txt"); err == nil {
		t.Fatal("a missing file was found")
	}
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		info, err := c.stat(fsys, "new.txt")
		if err == nil {
			if info.Size() != 1 {
				t.Fatalf("size %d", info.Size())
			}
			if took := time.Since(start); took > 3*statValid {
				t.Fatalf("seen after %s", took)
			}
			break
		}
		if time.Since(start) > 3*statValid {
			t.Fatal("a new file was not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var nilCache *statCache
	if _, err := nilCache.stat(fsys, "new.txt"); err != nil {
		t.Fatalf("no cache: %v", err)
	}
}
