package main

import (
	"flag"
	"fmt"
	"slices"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// A command is one subcommand. Its flags exist only on its own flag set,
// and the help, the usage errors and the completion scripts are all made
// from this table, so they cannot drift apart.
type command struct {
	name    string
	args    string // the positional arguments in the synopsis, e.g. "bash|zsh"
	summary string // one line, for `rockstar help`
	// maxArgs is how many positional arguments it takes; argWords are
	// their values, for completion.
	maxArgs  int
	argWords []string
	// values are the values of flags (by name) that take one of a few
	// words, for completion; other flags with a value complete file names.
	values map[string][]string
	// interspersed lets flags follow the positional arguments
	// ("host add NAME --respond hi").
	interspersed bool
	// usesConfig tells that the command searches for the config without -c.
	usesConfig bool
	// setup defines the command's flags on fs and returns what runs it
	// once they are parsed, with the positional arguments.
	setup func(c *cli, fs *flag.FlagSet) func(args []string) int
}

// shells are the shells `rockstar completion` writes a script for.
func shells() []string { return []string{"bash", "zsh"} }

// commands is the table of subcommands, in the order help lists them.
func commands() []command {
	cmds := []command{
		{name: "run", summary: "run the server in the foreground", usesConfig: true,
			values: map[string][]string{"log-format": {"console", "json"}},
			setup: func(c *cli, fs *flag.FlagSet) func([]string) int {
				cfg := configFlag(fs)
				format := fs.String("log-format", "", "write the logs in `FORMAT`, console or json (default: console on a terminal, else json)")
				return func([]string) int { return c.runMaster(*cfg, *format) }
			}},
		{name: "check", summary: "validate the config, like nginx -t", usesConfig: true,
			setup: func(c *cli, fs *flag.FlagSet) func([]string) int {
				cfg := configFlag(fs)
				return func([]string) int { return c.check(*cfg) }
			}},
		{name: "status", summary: "show the master and its workers", usesConfig: true, setup: controlSetup(supervisor.VerbStatus)},
		{name: "reload", summary: "reload the config and wait for the result", usesConfig: true, setup: controlSetup(supervisor.VerbReload)},
		{name: "stop", summary: "stop the server (--graceful to drain first)", usesConfig: true, setup: controlSetup(supervisor.VerbStop)},
		{name: "version", summary: "print the version and VCS revision (-c or -s: the running master's)",
			setup: func(c *cli, fs *flag.FlagSet) func([]string) int {
				cfg, sock := configFlag(fs), socketFlag(fs)
				return func([]string) int {
					if *cfg == "" && *sock == "" {
						return c.printVersion()
					}
					return c.control(supervisor.VerbVersion, *cfg, *sock, false)
				}
			}},
		{name: "host", args: "add|set|rm|ls [NAME]", summary: "add, change, remove or list hosts of the running master, in place",
			usesConfig: true, maxArgs: 2, argWords: objectActions(), interspersed: true, setup: hostSetup},
		{name: "tenant", args: "add|set|rm|ls [ID]", summary: "add, change, remove or list tenants of the running master, in place",
			usesConfig: true, maxArgs: 2, argWords: objectActions(), interspersed: true, setup: tenantSetup},
		{name: "cert", summary: "write a self-signed development certificate pair", setup: certSetup},
		{name: "completion", args: "bash|zsh", summary: "print a shell completion script", maxArgs: 1, argWords: shells(),
			setup: func(c *cli, fs *flag.FlagSet) func([]string) int {
				return func(args []string) int { return c.completion(args) }
			}},
		{name: "help", args: "[COMMAND]", summary: "list the commands, or show one command's flags", maxArgs: 1,
			setup: func(c *cli, fs *flag.FlagSet) func([]string) int {
				return func(args []string) int { return c.help(args) }
			}},
	}
	for i := range cmds {
		if cmds[i].name == "help" {
			for _, cmd := range cmds {
				cmds[i].argWords = append(cmds[i].argWords, cmd.name)
			}
		}
	}
	return cmds
}

// configFlag is -c, for every command that reads the config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "", "read the config from `FILE` (default: the search below)")
}

// socketFlag is -s, for the commands that talk to the master.
func socketFlag(fs *flag.FlagSet) *string {
	return fs.String("s", "", "talk to the master on `SOCKET` (default: the config's control_socket)")
}

// controlSetup is the setup of status, reload and stop: -c, -s and, for
// stop, --graceful.
func controlSetup(verb string) func(c *cli, fs *flag.FlagSet) func([]string) int {
	return func(c *cli, fs *flag.FlagSet) func([]string) int {
		cfg, sock := configFlag(fs), socketFlag(fs)
		graceful := new(bool)
		if verb == supervisor.VerbStop {
			fs.BoolVar(graceful, "graceful", false, "let in-flight requests finish first (within shutdown_timeout)")
		}
		return func([]string) int { return c.control(verb, *cfg, *sock, *graceful) }
	}
}

// help is `rockstar help [COMMAND]`.
func (c *cli) help(args []string) int {
	if len(args) == 0 {
		c.usage(c.stdout)
		return 0
	}
	cmd, ok := c.lookup(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "rockstar help: unknown command %q\n", args[0])
		return 2
	}
	fs := flag.NewFlagSet("rockstar "+cmd.name, flag.ContinueOnError)
	cmd.setup(c, fs)
	c.commandUsage(c.stdout, cmd, fs)
	return 0
}

// completion is `rockstar completion bash|zsh`.
func (c *cli) completion(args []string) int {
	if len(args) != 1 || !slices.Contains(shells(), args[0]) {
		fmt.Fprintln(c.stderr, "rockstar completion: name the shell: bash or zsh")
		return 2
	}
	script := bashCompletion
	if args[0] == "zsh" {
		script = zshCompletion
	}
	if err := script(c.stdout, completionTable()); err != nil {
		fmt.Fprintln(c.stderr, "rockstar completion:", err)
		return 1
	}
	return 0
}
