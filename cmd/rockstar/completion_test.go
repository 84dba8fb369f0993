package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// completionScript is `rockstar completion SHELL`, written to a file.
func completionScript(t *testing.T, shell string) (path, text string) {
	t.Helper()
	r := rockstar(t, "completion", shell)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("rockstar completion %s: exit %d: %s", shell, r.code, r.stderr)
	}
	path = filepath.Join(t.TempDir(), "rockstar."+shell)
	if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, r.stdout
}

// The bash script parses (bash -n), names every command and flag, and
// completes as a user types: run in bash with COMP_WORDS set as bash sets
// them, it answers each command's own flags and the right values.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	path, text := completionScript(t, "bash")
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for _, cc := range completionTable() {
		if !strings.Contains(text, "    "+cc.name+")\n") {
			t.Errorf("no case for %s", cc.name)
		}
		for _, f := range cc.flags {
			if !strings.Contains(text, f.name) {
				t.Errorf("%s: no flag %s", cc.name, f.name)
			}
		}
	}

	for _, tc := range []struct {
		words []string // the last one is being completed
		want  string   // COMPREPLY, space-separated
	}{
		{[]string{"rockstar", "ch"}, "check"},
		{[]string{"rockstar", "st"}, "status stop"},
		{[]string{"rockstar", "--v"}, "--version"},
		{[]string{"rockstar", "stop", "--g"}, "--graceful"},
		{[]string{"rockstar", "check", "-"}, "-c -h --help"},
		{[]string{"rockstar", "run", "--log-format", ""}, "console json"},
		{[]string{"rockstar", "run", "-log-format", "j"}, "json"},
		{[]string{"rockstar", "cert", "--"}, "--force --hosts --out --help"},
		{[]string{"rockstar", "completion", ""}, "bash zsh"},
		{[]string{"rockstar", "help", "re"}, "reload"},
	} {
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rockstar; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, append([]string{"-c", script, "bash", path}, tc.words...)...).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("completing %q: %q (%v), want %q", tc.words, got, err, tc.want)
		}
	}
}

// The zsh script names every command with its summary and every flag of
// each command in its own _arguments, and parses (zsh -n) where zsh is
// installed.
func TestZshCompletion(t *testing.T) {
	path, text := completionScript(t, "zsh")
	if !strings.HasPrefix(text, "#compdef rockstar\n") {
		t.Errorf("no #compdef line: %q", text[:min(len(text), 40)])
	}
	for _, cc := range completionTable() {
		if !strings.Contains(text, "    '"+cc.name+":"+zshEscape(cc.summary, ":")+"'\n") {
			t.Errorf("no entry for %s", cc.name)
		}
		i := strings.Index(text, "    ("+cc.name+")\n")
		if i < 0 {
			t.Errorf("no case for %s", cc.name)
			continue
		}
		body, _, _ := strings.Cut(text[i:], ";;")
		for _, f := range cc.flags {
			if !strings.Contains(body, "'"+f.name+"[") {
				t.Errorf("%s: no flag %s in:\n%s", cc.name, f.name, body)
			}
		}
	}
	if !strings.Contains(text, "'--log-format[") || !strings.Contains(text, ":value:(console json)") {
		t.Error("--log-format does not complete console and json")
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh: the script's syntax is not checked")
	}
	if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}

	// Sourced, it registers itself; called as zsh's completion system
	// calls it (words, CURRENT; _arguments, _describe and compdef stood in
	// for), it hands _arguments the command's own flags and _describe the
	// commands.
	zshRun := func(setup string) []string {
		t.Helper()
		script := `compdef() { print -r -- "compdef $*" }
_arguments() { print -rl -- "$@" }
_describe() { print -rl -- "${(@P)4}" }
compadd() { print -rl -- "$@" }
source "$1"
` + setup + "\n_rockstar\n"
		out, err := exec.Command(zsh, "-f", "-c", script, "zsh", path).CombinedOutput()
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	lines := zshRun("words=(rockstar ''); CURRENT=2; PREFIX=''")
	if lines[0] != "compdef _rockstar rockstar" {
		t.Errorf("sourcing it: %q, want it to call compdef", lines[0])
	}
	var names []string
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		names = append(names, name)
	}
	for _, cc := range completionTable() {
		if !slices.Contains(names, cc.name) {
			t.Errorf("the first word does not complete to %s: %q", cc.name, names)
		}
		lines := zshRun("words=(rockstar " + cc.name + " ''); CURRENT=3; PREFIX=''")
		var got []string
		for _, l := range lines[1:] {
			if name, _, ok := strings.Cut(l, "["); ok && strings.HasPrefix(name, "-") {
				got = append(got, name)
			}
		}
		if want := cc.flagNames()[:len(cc.flags)]; !slices.Equal(got, want) {
			t.Errorf("%s: _arguments got the flags %q, want %q", cc.name, got, want)
		}
	}
}
