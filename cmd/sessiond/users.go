package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// positional is how many arguments after the flags a command takes.
var positional = map[string]int{"user import": 1}

// userRef registers --id and --email, which name one user.
func userRef(fs *flag.FlagSet) (id, email *string) {
	return fs.String("id", "", "the user's id"), fs.String("email", "", "the user's email (users with a password)")
}

// findUser returns the user that --id or --email names.
func findUser(e env, fs *flag.FlagSet, a *app, id, email string) (*sessiond.User, error) {
	if (id == "") == (email == "") {
		return nil, usageError(fs, e, "give exactly one of --id and --email")
	}
	if id != "" {
		return a.accounts.User(e.ctx, id)
	}
	return a.accounts.UserByEmail(e.ctx, email)
}

func userUpdateFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	id, email := userRef(fs)
	newEmail := fs.String("new-email", "", "change the user's email")
	tenant := fs.String("tenant", "", "move the user to this tenant id (every session of the old one ends)")
	onboarding := fs.Bool("needs-onboarding", false, "set whether the user still needs onboarding (--needs-onboarding=false finishes it)")
	step := fs.String("onboarding-step", "", "set the user's onboarding step")
	disabled := fs.Bool("disabled", false, "disable (true: every session ends) or enable (false) the user")
	attrs := fs.String("attributes", "", "a JSON merge patch of the user's attributes, such as '{\"plan\":\"pro\"}'")
	version := fs.Int64("version", -1, "apply only to this version of the user (a conflict otherwise)")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		var p accounts.UserPatch
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["new-email"] {
			p.Email = newEmail
		}
		if set["tenant"] {
			p.TenantID = tenant
		}
		if set["needs-onboarding"] {
			p.NeedsOnboarding = onboarding
		}
		if set["onboarding-step"] {
			p.OnboardingStep = step
		}
		if set["disabled"] {
			p.Disabled = disabled
		}
		if set["attributes"] {
			p.Attributes = json.RawMessage(*attrs)
		}
		var v *int64
		if set["version"] {
			v = version
		}
		return withApp(e, cfg, func(a *app) error {
			u, err := findUser(e, fs, a, *id, *email)
			if err != nil {
				return cliError(err)
			}
			u, n, err := a.accounts.PatchUser(e.ctx, u.ID, p, v)
			if err != nil {
				return cliError(err)
			}
			if *asJSON {
				return printJSON(e, map[string]any{"user": server.NewAdminUser(u), "revoked": n})
			}
			fmt.Fprintf(e.stdout, "updated user %s (%s), version %d", u.Email, u.ID, u.Version)
			if n > 0 {
				fmt.Fprintf(e.stdout, "; %d sessions revoked", n)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
}

func userDeleteFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	id, email := userRef(fs)
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		return withApp(e, cfg, func(a *app) error {
			u, err := findUser(e, fs, a, *id, *email)
			if err != nil {
				return cliError(err)
			}
			n, err := a.accounts.DeleteUser(e.ctx, u.ID)
			if err != nil {
				return cliError(err)
			}
			fmt.Fprintf(e.stdout, "deleted user %s (%s); %d sessions revoked\n", u.Email, u.ID, n)
			return nil
		})
	}
}

func userListFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	prefix := fs.String("email-prefix", "", "only users whose email starts with this (ASCII letters in any case)")
	tenant := fs.String("tenant", "", "only users of this tenant")
	cursor := fs.String("cursor", "", "continue after the page that printed this cursor")
	limit := fs.Int("limit", 100, fmt.Sprintf("users per page, 1 to %d", accounts.MaxListLimit))
	all := fs.Bool("all", false, "print every page")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		f := sessiond.UserFilter{EmailPrefix: *prefix, TenantID: *tenant, Limit: *limit}
		if *limit < 1 || *limit > accounts.MaxListLimit {
			return usageError(fs, e, fmt.Sprintf("--limit must be from 1 to %d", accounts.MaxListLimit))
		}
		if *cursor != "" {
			after, err := base64.RawURLEncoding.DecodeString(*cursor)
			if err != nil || len(after) == 0 {
				return usageError(fs, e, "--cursor is not one this command printed")
			}
			f.After = string(after)
		}
		return withApp(e, cfg, func(a *app) error {
			var users []server.AdminUser
			next := ""
			for {
				list, n, err := a.accounts.ListUsers(e.ctx, f)
				if err != nil {
					return cliError(err)
				}
				for _, u := range list {
					users = append(users, server.NewAdminUser(u))
				}
				next = n
				if !*all || n == "" {
					break
				}
				f.After = n
			}
			if next != "" {
				next = base64.RawURLEncoding.EncodeToString([]byte(next))
			}
			if *asJSON {
				if users == nil {
					users = []server.AdminUser{}
				}
				return printJSON(e, map[string]any{"users": users, "next_cursor": next})
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tTENANT\tONBOARDING\tSTEP\tDISABLED\tPASSWORD\tVERSION\tUPDATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%t\t%d\t%s\n", u.ID, u.Email, u.TenantID,
					onboardingLabel(u.NeedsOnboarding), u.OnboardingStep, u.Disabled, u.HasPassword, u.Version, u.UpdatedAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(e.stdout, "more: --cursor %s\n", next)
			}
			return nil
		})
	}
}

func onboardingLabel(needs bool) string {
	if needs {
		return "needed"
	}
	return "done"
}

func userImportFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if fs.NArg() != 1 {
			return usageError(fs, e, "give the file to import (JSON Lines; - for standard input)")
		}
		in := e.stdin
		if name := fs.Arg(0); name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		recs, err := accounts.ReadImport(in)
		if err != nil {
			return importError(fs.Arg(0), err)
		}
		return withApp(e, cfg, func(a *app) error {
			res, err := a.accounts.Import(e.ctx, recs)
			if err != nil {
				return importError(fs.Arg(0), err)
			}
			fmt.Fprintf(e.stdout, "imported %d users\n", res.Created)
			return nil
		})
	}
}

// importError names the file and, when known, the line.
func importError(file string, err error) error {
	var ie *accounts.ImportError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s:%d: %w", file, ie.Line, cliError(ie.Err))
	}
	return fmt.Errorf("%s: %w", file, cliError(err))
}

func printJSON(e env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// delegateLogin wires --login-verify-url into the directory.
func delegateLogin(a *app, cfg config.Config) error {
	if cfg.LoginVerifyURL == "" {
		return nil
	}
	d := &accounts.Delegate{URL: cfg.LoginVerifyURL, Mode: cfg.LoginVerifyMode}
	if cfg.LoginVerifySecretFile != "" {
		key, err := readSecretFile(cfg.LoginVerifySecretFile, "--login-verify-secret-file")
		if err != nil {
			return err
		}
		d.Secret = []byte(key)
	}
	a.accounts.DelegateLogin(d)
	a.log.Info("delegated login", "mode", d.Mode, "signed", d.Secret != nil)
	return nil
}
