package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rockstar-dev/rockstar/internal/testbin"
)

// rockstarBin is the binary built from this package for the tests that run
// it as a user does.
var rockstarBin string

func TestMain(m *testing.M) { testbin.Main(m, ".", &rockstarBin) }

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// exe runs bin with args in dir (the test's directory if ""), with the
// environment less $ROCKSTAR_CONFIG plus env.
func exe(t *testing.T, bin, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envConfig+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		return result{ee.ExitCode(), stdout.String(), stderr.String()}
	default:
		t.Fatalf("rockstar %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return result{0, stdout.String(), stderr.String()}
}

// rockstar runs the test binary in the test's directory.
func rockstar(t *testing.T, args ...string) result {
	t.Helper()
	return exe(t, rockstarBin, "", nil, args...)
}

// versionLines is the documented format of `rockstar version`.
var versionLines = []*regexp.Regexp{
	regexp.MustCompile(`^rockstar \S+$`),
	regexp.MustCompile(`^revision (unknown|[0-9a-f]{7,64})( \(modified\))?$`),
	regexp.MustCompile(`^time \S+$`),
	regexp.MustCompile(`^go go\S+ ` + runtime.GOOS + "/" + runtime.GOARCH + `$`),
}

// --version, -v and version print the same four lines, and the revision
// line is the one Go recorded in the binary (unknown when it recorded none,
// as with -buildvcs=false or a git worktree).
func TestVersion(t *testing.T) {
	bi, err := buildinfo.ReadFile(rockstarBin)
	if err != nil {
		t.Fatal(err)
	}
	wantRev := "revision unknown"
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			wantRev = "revision " + s.Value
		}
	}
	var first string
	for _, arg := range []string{"--version", "-v", "version", "-version"} {
		r := rockstar(t, arg)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("rockstar %s: exit %d: %s", arg, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != len(versionLines) {
			t.Fatalf("rockstar %s: %d lines, want %d: %q", arg, len(lines), len(versionLines), r.stdout)
		}
		for i, re := range versionLines {
			if !re.MatchString(lines[i]) {
				t.Errorf("rockstar %s: line %d %q does not match %s", arg, i+1, lines[i], re)
			}
		}
		if !strings.HasPrefix(lines[1], wantRev) {
			t.Errorf("rockstar %s: %q, want %q as the binary records", arg, lines[1], wantRev)
		}
		if first == "" {
			first = r.stdout
		} else if r.stdout != first {
			t.Errorf("rockstar %s: %q, differs from --version's %q", arg, r.stdout, first)
		}
	}
}

// A release build's linker stamps take the place of what Go recorded.
func TestVersionLinkerStamps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary again")
	}
	bin := filepath.Join(t.TempDir(), "rockstar")
	const pkg = "github.com/rockstar-dev/rockstar/supervisor."
	ldflags := "-X " + pkg + "version=v9.8.7 -X " + pkg + "revision=0123456789abcdef0123456789abcdef01234567 -X " +
		pkg + "revisionTime=2026-01-02T03:04:05Z -X " + pkg + "modified=true"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "rockstar v9.8.7\nrevision 0123456789abcdef0123456789abcdef01234567 (modified)\n" +
		"time 2026-01-02T03:04:05Z\ngo " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r := exe(t, bin, "", nil, "--version"); r.code != 0 || r.stdout != want {
		t.Errorf("rockstar --version: exit %d:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
}

// `rockstar CMD -h`, `--help` and `help CMD` print that command's usage on
// stdout and exit 0, with its own flags and no other command's.
func TestCommandHelp(t *testing.T) {
	cases := []struct {
		cmd      string
		want, no []string
	}{
		{"run", []string{"-c FILE", "--log-format FORMAT", "ROCKSTAR_CONFIG"}, []string{"--graceful", "-s SOCKET", "--hosts"}},
		{"check", []string{"-c FILE"}, []string{"--graceful", "-s SOCKET", "--log-format"}},
		{"stop", []string{"-c FILE", "-s SOCKET", "--graceful"}, []string{"--log-format"}},
		{"cert", []string{"--hosts NAMES", "--out DIR", "--force"}, []string{"-c FILE", "--graceful"}},
		{"completion", []string{"bash|zsh"}, []string{"-c FILE"}},
	}
	for _, tc := range cases {
		for _, args := range [][]string{{tc.cmd, "-h"}, {tc.cmd, "--help"}, {"help", tc.cmd}} {
			r := rockstar(t, args...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("rockstar %v: exit %d, want 0: %s", args, r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "usage: rockstar "+tc.cmd+" ") {
				t.Errorf("rockstar %v: %q, want its usage", args, r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("rockstar %v: no %q in:\n%s", args, w, r.stdout)
				}
			}
			for _, w := range tc.no {
				if strings.Contains(r.stdout, w) {
					t.Errorf("rockstar %v: another command's %q in:\n%s", args, w, r.stdout)
				}
			}
		}
	}
}

// `rockstar -h`, `--help` and `help` list every command with its summary
// and exit 0; no command at all is a usage mistake.
func TestHelpListsCommands(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "help"} {
		r := rockstar(t, arg)
		if r.code != 0 {
			t.Errorf("rockstar %s: exit %d, want 0", arg, r.code)
		}
		for _, cmd := range commands() {
			if !regexp.MustCompile(`(?m)^  ` + cmd.name + ` +` + regexp.QuoteMeta(cmd.summary) + `$`).MatchString(r.stdout) {
				t.Errorf("rockstar %s: no line for %s in:\n%s", arg, cmd.name, r.stdout)
			}
		}
	}
	if r := rockstar(t); r.code != 2 || !strings.Contains(r.stderr, "usage: rockstar COMMAND") {
		t.Errorf("rockstar: exit %d, want 2 and the usage: %s", r.code, r.stderr)
	}
}

// An unknown command, flag or argument exits 2 and says which.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "-graceful"}, "rockstar check: unknown flag -graceful"},
		{[]string{"check", "--graceful"}, "rockstar check: unknown flag -graceful"},
		{[]string{"run", "-s", "x.sock"}, "rockstar run: unknown flag -s"},
		{[]string{"cert", "-c", "x.toml"}, "rockstar cert: unknown flag -c"},
		{[]string{"nosuch"}, `rockstar: unknown command "nosuch"`},
		{[]string{"--nosuch"}, `rockstar: unknown flag "--nosuch"`},
		{[]string{"status", "extra"}, `rockstar status: unexpected argument "extra"`},
		{[]string{"completion", "fish"}, "rockstar completion: name the shell: bash or zsh"},
		{[]string{"help", "nosuch"}, `rockstar help: unknown command "nosuch"`},
		{[]string{"run", "--log-format"}, "rockstar run: flag needs an argument: -log-format"},
	} {
		r := rockstar(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("rockstar %v: exit %d, want 2 and %q in:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}
