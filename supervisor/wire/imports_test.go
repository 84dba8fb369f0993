package wire_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rockstar-dev/rockstar/"

// The two processes' packages stay apart, and meet only in the contract:
// read from `go list`, every package's dependencies (direct or not, test
// files aside) keep to these rules.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := make(map[string][]string)
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[strings.TrimPrefix(f[0], module)] = f[1:]
		}
	}
	for _, must := range []string{"supervisor", "supervisor/child", "supervisor/wire", "worker", "netutil"} {
		if _, ok := deps[must]; !ok {
			t.Fatalf("go list did not list %s", must)
		}
	}
	for _, r := range []struct {
		pkg      string // and the packages under it
		mustNot  []string
		ruleText string
	}{
		{"supervisor/child", []string{"supervisor"}, "the worker process's runtime never imports the master"},
		{"supervisor", []string{"supervisor/child"}, "the master never imports the worker process's runtime"},
		{"supervisor/wire", []string{"supervisor", "supervisor/child"}, "the contract imports neither side"},
		{"worker", []string{"supervisor", "supervisor/child", "supervisor/wire", "supervisor/config"}, "the framework knows no supervisor"},
		{"netutil", []string{"supervisor", "supervisor/child", "supervisor/wire", "supervisor/config", "worker"}, "netutil imports neither process"},
	} {
		for pkg, ds := range deps {
			if pkg != r.pkg && !strings.HasPrefix(pkg, r.pkg+"/") {
				continue
			}
			if r.pkg == "supervisor" && pkg != "supervisor" {
				continue // supervisor/child, wire, config have rules of their own
			}
			for _, d := range ds {
				for _, bad := range r.mustNot {
					if d == module+bad {
						t.Errorf("%s imports %s: %s", pkg, bad, r.ruleText)
					}
				}
			}
		}
	}
}
