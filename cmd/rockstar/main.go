// Command rockstar runs the Rockstar web server: a prefork master with one
// worker process per CPU, and the CLI that controls it.
//
//	rockstar run [-c FILE] [--log-format console|json]
//	rockstar check [-c FILE]
//	rockstar status|reload [-c FILE | -s SOCKET]
//	rockstar stop [--graceful] [-c FILE | -s SOCKET]
//	rockstar version [-c FILE | -s SOCKET]     (also rockstar --version, -v)
//	rockstar cert -hosts a.test,b.test [-out DIR] [-force]
//	rockstar completion bash|zsh
//	rockstar help [COMMAND]                    (also -h, --help)
//
// Each command has its own flags; `rockstar COMMAND -h` lists them and
// exits 0, an unknown command or flag exits 2. Without -c, the config is
// $ROCKSTAR_CONFIG, else the first of ./rockstar.toml,
// /etc/rockstar/rockstar.toml and ./examples/rockstar.toml (the bundled
// example, so `rockstar run` works on a fresh clone) that exists. Relative
// paths inside a config are relative to its own directory, so the control
// commands work from any directory.
//
// `rockstar version` prints four lines (BuildInfo.Write in package
// supervisor): the module version, the VCS revision with " (modified)"
// when the tree had uncommitted changes, the revision's commit time, and
// the Go version and platform. They come from runtime/debug.ReadBuildInfo,
// and release builds may set them with the linker (supervisor/version.go).
//
// One binary is both processes: started by a master as a worker, it runs
// package supervisor/child (child.IsWorker, child.Run) and nothing else;
// otherwise it is the CLI, and `rockstar run` the master (package
// supervisor). main.go has the dispatch and usage, commands.go the table
// of commands and their flags, control.go the verbs that talk to the
// master, configsearch.go the default config, completion.go the shell
// completion scripts, cert.go the development certificate.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/rockstar-dev/rockstar/supervisor/child"
)

func main() {
	if child.IsWorker() {
		os.Exit(child.Run(os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is one invocation: where it writes, and where it looks for the
// config.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// search is where a config is looked for after -c and
	// $ROCKSTAR_CONFIG, in order (defaultSearch).
	search []string
}

// run is the CLI with the process's environment; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: os.Getenv, search: defaultSearch()}
	return c.main(args)
}

// main dispatches args[0], the command, and returns the exit code: 0, 1
// for a failure, 2 for a usage mistake.
func (c *cli) main(args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd, ok := c.lookup(name)
	if !ok {
		what := "command"
		if strings.HasPrefix(name, "-") {
			what = "flag"
		}
		fmt.Fprintf(c.stderr, "rockstar: unknown %s %q (rockstar help lists the commands)\n", what, name)
		return 2
	}
	fs := flag.NewFlagSet("rockstar "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed below
	fs.Usage = func() {}
	runCmd := cmd.setup(c, fs)
	err := fs.Parse(args)
	var positional []string
	for cmd.interspersed && err == nil && fs.NArg() > 0 && !afterDashes(args, fs.NArg()) {
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
		err = fs.Parse(args)
	}
	positional = append(positional, fs.Args()...)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.commandUsage(c.stdout, cmd, fs)
		return 0
	case err != nil:
		fmt.Fprintf(c.stderr, "rockstar %s: %s\n", cmd.name, flagError(err))
		c.commandUsage(c.stderr, cmd, fs)
		return 2
	case len(positional) > cmd.maxArgs:
		fmt.Fprintf(c.stderr, "rockstar %s: unexpected argument %q\n", cmd.name, positional[cmd.maxArgs])
		c.commandUsage(c.stderr, cmd, fs)
		return 2
	}
	return runCmd(positional)
}

// afterDashes reports whether the last n of args, those flag parsing left,
// follow a "--" (and so are all positional).
func afterDashes(args []string, n int) bool {
	i := len(args) - n - 1
	return i >= 0 && args[i] == "--"
}

// flagError words the flag package's errors as this CLI does.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag " + name
	}
	return msg
}

// lookup finds the command called name.
func (c *cli) lookup(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// usage lists the commands, one line each.
func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, "usage: rockstar COMMAND [flags]\n       rockstar --version | -v\n\ncommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\n'rockstar COMMAND -h' lists a command's flags.\n\n%s\n", configSearchDoc)
}

// commandUsage prints cmd's synopsis, summary and flags, as fs has them.
func (c *cli) commandUsage(w io.Writer, cmd command, fs *flag.FlagSet) {
	synopsis := "rockstar " + cmd.name
	if hasFlags(fs) {
		synopsis += " [flags]"
	}
	if cmd.args != "" {
		synopsis += " " + cmd.args
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", synopsis, cmd.summary)
	if hasFlags(fs) {
		fmt.Fprint(w, "\nflags:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fs.VisitAll(func(f *flag.Flag) {
			arg, text := flag.UnquoteUsage(f)
			name := flagName(f.Name)
			if arg != "" && !isBool(f) {
				name += " " + arg
			}
			if f.DefValue != "" && !isBool(f) {
				text += fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, text)
		})
		tw.Flush()
	}
	if cmd.usesConfig {
		fmt.Fprintf(w, "\n%s\n", configSearchDoc)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	found := false
	fs.VisitAll(func(*flag.Flag) { found = true })
	return found
}

// flagName spells a flag as the help and completion do: -c, --log-format
// (the flag package takes either number of dashes).
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
