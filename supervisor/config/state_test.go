package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stateDoc = `[[server]]
listen = ":8080"

[[host]]
hostname = "a.test"
respond = "a"

[[host]]
hostname = "b.test"
respond = "b"
`

// loadWithState writes stateDoc and a state file into a temp dir and loads them.
func loadWithState(t *testing.T, state string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rockstar.toml")
	if err := os.WriteFile(path, []byte(stateDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rockstar.state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// The state on top of the file: a state host replaces the file's of its
// name in place, a new one comes after the file's, a tombstone deletes.
func TestStateMerge(t *testing.T) {
	c, err := loadWithState(t, `{"hosts": {
		"b.test": {"hostname": "b.test", "respond": "B"},
		"a.test": null,
		"c.test": {"hostname": "c.test", "respond": "c", "respond_status": 201}
	}}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range c.Hosts {
		got = append(got, h.Hostname+"="+h.Respond)
	}
	if strings.Join(got, " ") != "b.test=B c.test=c" {
		t.Fatalf("hosts = %v", got)
	}
	if c.Hosts[1].RespondStatus != 201 {
		t.Errorf("c.test respond_status = %d, want 201 (a JSON integer is TOML's)", c.Hosts[1].RespondStatus)
	}
	if !c.InFile(KindHost, "a.test") || c.InFile(KindHost, "c.test") {
		t.Error("InFile is wrong")
	}
	if _, ok := c.Object(KindHost, "a.test"); ok {
		t.Error("the tombstoned a.test is still an object")
	}
}

// A problem in a state object names the state file, the object and its
// own field, not a line of the config file.
func TestStateErrorNamesObject(t *testing.T) {
	_, err := loadWithState(t, `{"hosts": {"b.test": {"hostname": "b.test", "respond": "b", "respond_status": 1000}}}`)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want an *Error wrapping ErrInvalid", err)
	}
	if e.Object != "host b.test" || e.ObjectField != "respond_status" || !strings.HasSuffix(e.File, "rockstar.state.json") || e.Line != 0 {
		t.Fatalf("error = %+v", e)
	}
	if _, err := loadWithState(t, `{"hosts": `); !errors.Is(err, ErrState) {
		t.Fatalf("a torn state file: %v, want ErrState", err)
	}
}

// WriteFileAtomic: a crash between the temp file's write and the rename
// leaves the old file whole, and no temp file behind; a write that
// completes replaces it.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if err := WriteFileAtomic(path, []byte("old"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash before rename")
	var tmpSeen bool
	err := WriteFileAtomic(path, []byte("new, longer than old"), 0o600, func() error {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "s.json" {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				tmpSeen = string(b) == "new, longer than old"
			}
		}
		return crash
	})
	if !errors.Is(err, crash) || !tmpSeen {
		t.Fatalf("err = %v, temp file written = %v", err, tmpSeen)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("after the crash the file holds %q, want the old one", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files left, want 1", len(ents))
	}
	// A crash that killed the writer leaves its temporary file; the next
	// write takes it away.
	if err := os.WriteFile(filepath.Join(dir, ".s.json.tmp123"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("new"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left after a write, want 1: a crashed write's temporary file stays", len(ents))
	}
	fi, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file = %q mode %v", b, fi.Mode())
	}
}
