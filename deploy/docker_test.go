package deploy_test

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// dockerfile is the repository's Dockerfile, its continued lines joined.
func dockerfile(t *testing.T) []string {
	t.Helper()
	text := strings.ReplaceAll(string(readFile(t, filepath.Join("..", "Dockerfile"))), "\\\n", " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// instructions returns the arguments of every Dockerfile instruction op.
func instructions(lines []string, op string) []string {
	var out []string
	for _, l := range lines {
		if k, rest, _ := strings.Cut(l, " "); strings.EqualFold(k, op) {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

// The Dockerfile builds with deploy/docker/build.sh (the script this test
// runs), on go.mod's Go release, runs as a non-root user, exposes the
// ports of the config it ships, and stops with SIGTERM (a graceful stop
// for a master that is PID 1).
func TestDockerfile(t *testing.T) {
	lines := dockerfile(t)
	if runs := instructions(lines, "RUN"); !slices.ContainsFunc(runs, func(r string) bool {
		return strings.Contains(r, "sh deploy/docker/build.sh")
	}) {
		t.Errorf("no RUN of deploy/docker/build.sh in %q", runs)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(readFile(t, filepath.Join("..", "go.mod"))))
	if goLine == nil || !slices.Contains(instructions(lines, "ARG"), "GO_VERSION="+goLine[1]) {
		t.Errorf("ARG GO_VERSION is not go.mod's go %v", goLine)
	}
	users := instructions(lines, "USER")
	if len(users) == 0 {
		t.Error("no USER: the image runs as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "0" || u == "root" {
		t.Errorf("USER %s", users[len(users)-1])
	}
	if got := instructions(lines, "STOPSIGNAL"); !slices.Equal(got, []string{"SIGTERM"}) {
		t.Errorf("STOPSIGNAL %q, want SIGTERM", got)
	}
	if !slices.ContainsFunc(instructions(lines, "COPY"), func(c string) bool {
		return c == "deploy/rockstar.toml /etc/rockstar/rockstar.toml"
	}) {
		t.Error("the image does not ship deploy/rockstar.toml as /etc/rockstar/rockstar.toml")
	}
	cfg, err := config.Parse("rockstar.toml", readFile(t, "rockstar.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range append([]string{cfg.Admin.Listen}, serverListens(cfg)...) {
		want = append(want, strconv.Itoa(int(port(t, l))))
	}
	var exposed []string
	for _, e := range instructions(lines, "EXPOSE") {
		exposed = append(exposed, strings.Fields(e)...)
	}
	slices.Sort(want)
	slices.Sort(exposed)
	if !slices.Equal(slices.Compact(want), exposed) {
		t.Errorf("EXPOSE %v, the config listens on %v", exposed, want)
	}
}

func serverListens(cfg *config.Config) []string {
	var l []string
	for _, s := range cfg.Servers {
		l = append(l, s.Listen)
	}
	return l
}

// The binary built as the image builds it is static (no ELF interpreter,
// no shared libraries), built with CGO_ENABLED=0 and -trimpath, and runs:
// `rockstar version` prints the version given to the build.
func TestDockerBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rockstar")
	build := exec.Command("sh", filepath.Join("docker", "build.sh"))
	build.Env = append(os.Environ(), "OUT="+bin, "VERSION=v0.0.0-test", "REVISION=0123abc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("deploy/docker/build.sh: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if info.Path != "github.com/rockstar-dev/rockstar/cmd/rockstar" {
		t.Errorf("built %s, want the module's cmd/rockstar", info.Path)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if first, _, _ := strings.Cut(string(out), "\n"); err != nil || first != "rockstar v0.0.0-test" {
		t.Errorf("rockstar version: %q, %v; want a first line \"rockstar v0.0.0-test\"", out, err)
	}
	if !strings.Contains(string(out), "\nrevision 0123abc") {
		t.Errorf("rockstar version: %q; want the revision the build stamped", out)
	}
}
