package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// compCommand is one command as the completion scripts see it, taken from
// the table of commands and the flag set its setup defines.
type compCommand struct {
	name, summary string
	flags         []compFlag
	args          []string // the words of its positional argument
}

// compFlag is one flag of a command.
type compFlag struct {
	name  string // as spelled: -c, --log-format
	usage string
	value bool     // takes a value
	words []string // the value's words; none: a file name
}

// globalFlags are those taken in place of a command.
func globalFlags() []string { return []string{"-h", "--help", "-v", "--version"} }

// completionTable is commands(), with each command's flags.
func completionTable() []compCommand {
	var out []compCommand
	c := &cli{stdout: io.Discard, stderr: io.Discard}
	for _, cmd := range commands() {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.setup(c, fs)
		cc := compCommand{name: cmd.name, summary: cmd.summary, args: cmd.argWords}
		fs.VisitAll(func(f *flag.Flag) {
			_, usage := flag.UnquoteUsage(f)
			cc.flags = append(cc.flags, compFlag{name: flagName(f.Name), usage: usage, value: !isBool(f), words: cmd.values[f.Name]})
		})
		out = append(out, cc)
	}
	return out
}

// flagNames are the names a command's flags complete to, -h and --help
// last.
func (cc compCommand) flagNames() []string {
	var names []string
	for _, f := range cc.flags {
		names = append(names, f.name)
	}
	return append(names, "-h", "--help")
}

// shellWords quotes words for a shell's single quotes.
func shellWords(words []string) string {
	return shellQuote(strings.Join(words, " "))
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bashCompletion writes the bash script: subcommands in the first place,
// then the command's flags, a flag's value words or file names after a
// flag that takes a value, and the command's argument words.
func bashCompletion(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	var names []string
	for _, cc := range cmds {
		names = append(names, cc.name)
	}
	fmt.Fprintf(&b, `# bash completion for rockstar, written by 'rockstar completion bash' from
# its table of commands. Load it with:  source <(rockstar completion bash)
_rockstar() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W %s -- "$cur"))
        return 0
    fi
    case ${COMP_WORDS[1]} in
`, shellWords(append(names, globalFlags()...)))
	for _, cc := range cmds {
		fmt.Fprintf(&b, "    %s)\n        case $prev in\n", cc.name)
		for _, f := range cc.flags {
			if !f.value {
				continue
			}
			alt := "-" + f.name // the flag package takes - and -- alike
			if strings.HasPrefix(f.name, "--") {
				alt = f.name[1:]
			}
			reply := `$(compgen -f -- "$cur")`
			if len(f.words) > 0 {
				reply = fmt.Sprintf(`$(compgen -W %s -- "$cur")`, shellWords(f.words))
			}
			fmt.Fprintf(&b, "        %s|%s) COMPREPLY=(%s); return 0 ;;\n", f.name, alt, reply)
		}
		b.WriteString("        esac\n")
		flags := shellWords(cc.flagNames())
		if len(cc.args) > 0 {
			fmt.Fprintf(&b, `        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W %s -- "$cur"))
        else
            COMPREPLY=($(compgen -W %s -- "$cur"))
        fi
`, flags, shellWords(cc.args))
		} else {
			fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %s -- \"$cur\"))\n", flags)
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n}\ncomplete -o default -F _rockstar rockstar\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshEscape escapes s, inside single quotes, for a _describe entry
// (colons) or an _arguments description (brackets).
func zshEscape(s, special string) string {
	for _, r := range special {
		s = strings.ReplaceAll(s, string(r), `\`+string(r))
	}
	return strings.ReplaceAll(s, "'", `'\''`)
}

// zshCompletion writes the zsh script: the commands with their summaries,
// then each command's flags through _arguments.
func zshCompletion(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString(`#compdef rockstar
# zsh completion for rockstar, written by 'rockstar completion zsh' from its
# table of commands. Load it with:  source <(rockstar completion zsh)
# or save it as _rockstar in a directory of $fpath.

_rockstar() {
  local -a commands
  commands=(
`)
	for _, cc := range cmds {
		fmt.Fprintf(&b, "    '%s:%s'\n", cc.name, zshEscape(cc.summary, ":"))
	}
	fmt.Fprintf(&b, `  )
  if (( CURRENT == 2 )); then
    if [[ $PREFIX == -* ]]; then
      compadd -- %s
    else
      _describe -t commands 'rockstar command' commands
    fi
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
`, strings.Join(globalFlags(), " "))
	for _, cc := range cmds {
		fmt.Fprintf(&b, "    (%s)\n      _arguments \\\n", cc.name)
		for _, f := range cc.flags {
			spec := fmt.Sprintf("'%s[%s]", f.name, zshEscape(f.usage, "[]"))
			switch {
			case !f.value:
			case len(f.words) > 0:
				spec += fmt.Sprintf(":value:(%s)", strings.Join(f.words, " "))
			default:
				spec += ":file:_files"
			}
			fmt.Fprintf(&b, "        %s' \\\n", spec)
		}
		if len(cc.args) > 0 {
			fmt.Fprintf(&b, "        '1:argument:(%s)' \\\n", strings.Join(cc.args, " "))
		}
		b.WriteString("        '(- *)'{-h,--help}'[show the usage of this command]'\n      ;;\n")
	}
	b.WriteString(`  esac
}

if [[ $funcstack[1] == _rockstar ]]; then
  _rockstar "$@"
else
  compdef _rockstar rockstar
fi
`)
	_, err := io.WriteString(w, b.String())
	return err
}
