package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testConfig is a config with relative paths only: one worker, its control
// socket and pid file under run/ next to the file, ephemeral ports.
const testConfig = `
[supervisor]
workers = 1
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"
shutdown_timeout = "5s"

[admin]
listen = "127.0.0.1:0"

[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "hello.test"
tenant = "demo"
respond = "hello"

[[tenant]]
id = "demo"
hosts = ["hello.test"]
`

// writeConfig writes testConfig to dir/name and returns its path.
func writeConfig(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Without -c, $ROCKSTAR_CONFIG; without either, the first file of the
// search; the error when there is none names every place looked.
func TestFindConfig(t *testing.T) {
	dir := t.TempDir()
	local, system, example := filepath.Join(dir, "local.toml"), filepath.Join(dir, "etc.toml"), filepath.Join(dir, "example.toml")
	env := map[string]string{}
	c := &cli{getenv: func(k string) string { return env[k] }, search: []string{local, system, example}}
	find := func(flagPath string) string {
		t.Helper()
		p, err := c.findConfig(flagPath)
		if err != nil {
			t.Fatalf("findConfig(%q): %v", flagPath, err)
		}
		return p
	}

	_, err := c.findConfig("")
	if !errors.Is(err, errNoConfig) {
		t.Fatalf("nothing there: %v, want errNoConfig", err)
	}
	for _, place := range []string{"-c", "$ROCKSTAR_CONFIG", local, system, example} {
		if !strings.Contains(err.Error(), place) {
			t.Errorf("the error does not name %s: %v", place, err)
		}
	}

	writeConfig(t, dir, "example.toml")
	if p := find(""); p != example {
		t.Errorf("only the example: %s", p)
	}
	writeConfig(t, dir, "etc.toml")
	if p := find(""); p != system {
		t.Errorf("the system's and the example: %s, want the system's", p)
	}
	writeConfig(t, dir, "local.toml")
	if p := find(""); p != local {
		t.Errorf("all three: %s, want the local one", p)
	}
	// $ROCKSTAR_CONFIG is used as it is, even if it names nothing: the
	// loader then says so, rather than another file being run.
	env[envConfig] = filepath.Join(dir, "missing.toml")
	if p := find(""); p != env[envConfig] {
		t.Errorf("with $ROCKSTAR_CONFIG: %s", p)
	}
	if p := find("given.toml"); p != "given.toml" {
		t.Errorf("with -c: %s", p)
	}
}

// The binary's search, from the directory it runs in: -c beats
// $ROCKSTAR_CONFIG, which beats ./rockstar.toml; a $ROCKSTAR_CONFIG that
// names nothing is an error naming it.
func TestConfigSearchOrder(t *testing.T) {
	cwd, envDir, flagDir := t.TempDir(), t.TempDir(), t.TempDir()
	local := writeConfig(t, cwd, "rockstar.toml")
	fromEnv := writeConfig(t, envDir, "other.toml")
	fromFlag := writeConfig(t, flagDir, "given.toml")
	envVar := envConfig + "=" + fromEnv

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"./rockstar.toml", nil, []string{"check"}, local},
		{"$ROCKSTAR_CONFIG over ./rockstar.toml", []string{envVar}, []string{"check"}, fromEnv},
		{"-c over $ROCKSTAR_CONFIG", []string{envVar}, []string{"check", "-c", fromFlag}, fromFlag},
	} {
		r := exe(t, rockstarBin, cwd, tc.env, tc.args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, tc.want+": ok") {
			t.Errorf("%s: exit %d: %s%s, want %s", tc.name, r.code, r.stdout, r.stderr, tc.want)
		}
	}

	missing := filepath.Join(envDir, "missing.toml")
	if r := exe(t, rockstarBin, cwd, []string{envConfig + "=" + missing}, "check"); r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Errorf("$ROCKSTAR_CONFIG naming nothing: exit %d, want 1 naming %s: %s", r.code, missing, r.stderr)
	}

	if _, err := os.Stat("/etc/rockstar/rockstar.toml"); err == nil {
		t.Skip("this machine has /etc/rockstar/rockstar.toml: the search finds it")
	}
	empty := t.TempDir()
	r := exe(t, rockstarBin, empty, nil, "check")
	if r.code != 1 {
		t.Errorf("no config anywhere: exit %d, want 1", r.code)
	}
	for _, place := range []string{"-c", "$ROCKSTAR_CONFIG", filepath.Join(empty, "rockstar.toml"),
		"/etc/rockstar/rockstar.toml", filepath.Join(empty, "examples", "rockstar.toml")} {
		if !strings.Contains(r.stderr, place) {
			t.Errorf("no config anywhere: the error does not name %s: %s", place, r.stderr)
		}
	}
}

// A master started from its config's directory (found there as
// ./rockstar.toml, with a relative control_socket) answers status and stop
// from another directory, through $ROCKSTAR_CONFIG or a relative -c.
func TestControlFromAnotherDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	root := t.TempDir()
	site := filepath.Join(root, "site")
	cfg := writeConfig(t, site, "rockstar.toml")
	elsewhere := filepath.Join(root, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}

	master := exec.Command(rockstarBin, "run", "--log-format", "json")
	master.Dir = site
	master.Stdout, master.Stderr = io.Discard, io.Discard
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = master.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = master.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	})

	// Ready once status answers from elsewhere.
	env := []string{envConfig + "=" + cfg}
	deadline := time.Now().Add(20 * time.Second)
	var r result
	for {
		r = exe(t, rockstarBin, elsewhere, env, "status")
		if r.code == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the master exited: %s", r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if r.code != 0 || !strings.Contains(r.stdout, "master pid") || !strings.Contains(r.stdout, "config "+cfg) {
		t.Fatalf("status from another directory: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}

	r = exe(t, rockstarBin, elsewhere, nil, "stop", "-c", filepath.Join("..", "site", "rockstar.toml"))
	if r.code != 0 || !strings.Contains(r.stdout, "stop: requested") {
		t.Fatalf("stop -c ../site/rockstar.toml: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not stop")
	}
}
