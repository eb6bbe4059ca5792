package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the module version from the build info is used.
var version = ""

// errUsage marks an error whose message was already printed with usage.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

type env struct {
	ctx    context.Context
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name, args, summary string
	scopes              []config.Scope
	flags               func(fs *flag.FlagSet) func(e env, cfg config.Config, fs *flag.FlagSet) error
}

var commands = []command{
	{"serve", "", "run the session server", []config.Scope{config.Common, config.Serve}, serveFlags},
	{"user add", "--email E [--tenant T] [--needs-onboarding]", "add a user; the password is read from standard input", []config.Scope{config.Common}, userAddFlags},
	{"user disable", "--email E", "disable a user and end all their sessions", []config.Scope{config.Common}, userDisableFlags(true)},
	{"user enable", "--email E", "enable a disabled user", []config.Scope{config.Common}, userDisableFlags(false)},
	{"user update", "--id ID | --email E [--needs-onboarding=false] [--onboarding-step S] [--disabled=true] [--attributes JSON] [--version N]", "change a user; disabling ends all their sessions", []config.Scope{config.Common}, userUpdateFlags},
	{"user delete", "--id ID | --email E", "delete a user and end all their sessions", []config.Scope{config.Common}, userDeleteFlags},
	{"user list", "[--email-prefix P] [--tenant T] [--cursor C] [--limit N] [--json]", "list users, a page at a time", []config.Scope{config.Common}, userListFlags},
	{"user import", "FILE", "import users with their password hashes from JSON Lines (- for standard input)", []config.Scope{config.Common}, userImportFlags},
	{"sessions list", "--user E", "list a user's live sessions", []config.Scope{config.Common}, sessionsListFlags},
	{"sessions revoke", "--id ID | --user E", "end one session, or every session of a user", []config.Scope{config.Common}, sessionsRevokeFlags},
	{"purge", "", "delete expired sessions now", []config.Scope{config.Common}, purgeFlags},
	{"doctor", "[--url URL]", "check the configuration against the usual mistakes and say what to change (exit status 1: something would break)", []config.Scope{config.Common, config.Serve}, doctorFlags},
	{"version", "", "print the version", nil, nil},
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.name {
			continue
		}
		return c.run(e, args[len(words):])
	}
	fmt.Fprintf(stderr, "sessiond: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sessiond: server-side sessions behind one cookie.")
	fmt.Fprintln(w, "\nUsage:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  sessiond %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nEvery setting is a flag and a SESSIOND_* environment variable; flags win.")
	fmt.Fprintln(w, "Run 'sessiond COMMAND --help' for a command's flags.")
}

func (c command) run(e env, args []string) error {
	if c.flags == nil { // version
		return printVersion(e.stdout)
	}
	fs := flag.NewFlagSet("sessiond "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	load := config.Register(fs, e.getenv, c.scopes...)
	action := c.flags(fs)
	printUsage := func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: sessiond %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, upperFirst(c.summary))
		fs.PrintDefaults()
	}
	fs.Usage = func() {}     // printed below, to stdout for --help
	fs.SetOutput(io.Discard) // the parse error is reworded below
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			printUsage()
			return nil
		}
		fmt.Fprintln(e.stderr, flagError(fs, err))
		printUsage()
		return errUsage
	}
	fs.Usage = printUsage
	if fs.NArg() > positional[c.name] {
		fmt.Fprintf(e.stderr, "sessiond %s: unexpected argument %q\n", c.name, fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	return action(e, cfg, fs)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func usageError(fs *flag.FlagSet, e env, msg string) error {
	fmt.Fprintf(e.stderr, "%s: %s\n", fs.Name(), msg)
	fs.Usage()
	return errUsage
}

// cliError turns engine errors into messages for a terminal.
func cliError(err error) error {
	if errors.Is(err, sessiond.ErrNotFound) {
		return errors.New("not found")
	}
	var e *sessiond.Error
	if errors.As(err, &e) {
		if e.Err != nil {
			return fmt.Errorf("%s: %w", e.Message, e.Err)
		}
		return errors.New(e.Message)
	}
	return err
}
