package supervisor

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// The build settings Go records (vcs.revision, vcs.time, vcs.modified)
// become BuildInfo, the linker's stamps win over them, and Write prints
// the documented four lines.
func TestBuildInfo(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	recorded := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/rockstar-dev/rockstar", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "2b77d89c0ffee2b77d89c0ffee2b77d89c0ffee0"},
			{Key: "vcs.time", Value: "2026-12-04T04:20:57Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name   string
		bi     *debug.BuildInfo
		stamps stamps
		want   string
	}{
		{"recorded by go build", recorded, stamps{},
			"rockstar v1.2.3\nrevision 2b77d89c0ffee2b77d89c0ffee2b77d89c0ffee0 (modified)\ntime 2026-12-04T04:20:57Z\ngo go1.99.1 " + platform + "\n"},
		{"stamped by the linker", recorded, stamps{version: "v2.0.0", revision: "abc", time: "2027-01-01T00:00:00Z", modified: "false"},
			"rockstar v2.0.0\nrevision abc\ntime 2027-01-01T00:00:00Z\ngo go1.99.1 " + platform + "\n"},
		{"some stamps", recorded, stamps{version: "v2.0.0"},
			"rockstar v2.0.0\nrevision 2b77d89c0ffee2b77d89c0ffee2b77d89c0ffee0 (modified)\ntime 2026-12-04T04:20:57Z\ngo go1.99.1 " + platform + "\n"},
		{"no VCS", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}}, stamps{},
			"rockstar (devel)\nrevision unknown\ntime unknown\ngo go1.99.1 " + platform + "\n"},
		{"no build info", nil, stamps{},
			"rockstar (devel)\nrevision unknown\ntime unknown\ngo " + runtime.Version() + " " + platform + "\n"},
	} {
		var b strings.Builder
		if err := buildInfo(tc.bi, tc.stamps).Write(&b); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, b.String(), tc.want)
		}
	}
}
