package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/password"
)

func userAddFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	email := fs.String("email", "", "the user's email (required)")
	tenant := fs.String("tenant", "", "the user's tenant id")
	onboarding := fs.Bool("needs-onboarding", false, "mark the user as not yet onboarded")
	step := fs.String("onboarding-step", "", "the user's onboarding step")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if *email == "" {
			return usageError(fs, e, "--email is required")
		}
		pw, err := readPassword(e.stdin)
		if err != nil {
			return err
		}
		return withApp(e, cfg, func(a *app) error {
			u, err := a.accounts.AddUser(e.ctx, accounts.UserParams{
				Email: *email, Password: pw, TenantID: *tenant, NeedsOnboarding: *onboarding, OnboardingStep: *step,
			})
			if err != nil {
				return cliError(err)
			}
			fmt.Fprintf(e.stdout, "created user %s (%s)\n", u.Email, u.ID)
			return nil
		})
	}
}

// readPassword reads the first line of r, without its line ending. The
// password is taken exactly as typed otherwise.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, password.MaxLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in: echo 'secret' | sessiond user add --email …)")
	}
	return line, nil
}

func userDisableFlags(disable bool) func(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
		email := fs.String("email", "", "the user's email (required)")
		return func(e env, cfg config.Config, fs *flag.FlagSet) error {
			if *email == "" {
				return usageError(fs, e, "--email is required")
			}
			return withApp(e, cfg, func(a *app) error {
				u, n, err := a.accounts.SetDisabled(e.ctx, *email, disable)
				if err != nil {
					return cliError(err)
				}
				if disable {
					fmt.Fprintf(e.stdout, "disabled user %s; %d sessions revoked\n", u.Email, n)
				} else {
					fmt.Fprintf(e.stdout, "enabled user %s\n", u.Email)
				}
				return nil
			})
		}
	}
}

func sessionsListFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	user := fs.String("user", "", "the user's email (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if *user == "" {
			return usageError(fs, e, "--user is required")
		}
		return withApp(e, cfg, func(a *app) error {
			u, err := a.accounts.UserByEmail(e.ctx, *user)
			if err != nil {
				return cliError(err)
			}
			list, err := a.manager.List(e.ctx, u.ID)
			if err != nil {
				return cliError(err)
			}
			if *asJSON {
				type row struct {
					ID           string    `json:"id"`
					Device       string    `json:"device"`
					IPAddress    string    `json:"ip_address"`
					CreatedAt    time.Time `json:"created_at"`
					LastActivity time.Time `json:"last_activity"`
					ExpiresAt    time.Time `json:"expires_at"`
				}
				rows := make([]row, 0, len(list))
				for _, s := range list {
					rows = append(rows, row{s.ID, s.Device(), s.IPAddress, s.CreatedAt, s.LastActivity, s.ExpiresAt})
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDEVICE\tIP\tCREATED\tLAST ACTIVITY\tEXPIRES")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Device(), s.IPAddress,
					s.CreatedAt.Format(time.RFC3339), s.LastActivity.Format(time.RFC3339), s.ExpiresAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	}
}

func sessionsRevokeFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	id := fs.String("id", "", "the public id of the session to end")
	user := fs.String("user", "", "end every session of the user with this email")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if (*id == "") == (*user == "") {
			return usageError(fs, e, "give exactly one of --id and --user")
		}
		return withApp(e, cfg, func(a *app) error {
			if *id != "" {
				if !sessiond.ValidID(*id) {
					return errors.New("--id must be a session id (a UUID)")
				}
				s, err := a.manager.Lookup(e.ctx, *id)
				if err != nil {
					return cliError(err)
				}
				if err := a.manager.Revoke(e.ctx, s.ID); err != nil {
					return cliError(err)
				}
				a.log.Info("session revoked", "reason", "cli", "user_id", s.UserID, "session_id", s.ID)
				fmt.Fprintf(e.stdout, "revoked session %s\n", s.ID)
				return nil
			}
			u, err := a.accounts.UserByEmail(e.ctx, *user)
			if err != nil {
				return cliError(err)
			}
			n, err := a.manager.RevokeUser(e.ctx, u.ID, "")
			if err != nil {
				return cliError(err)
			}
			a.log.Info("sessions revoked", "reason", "cli", "user_id", u.ID, "count", n)
			fmt.Fprintf(e.stdout, "revoked %d sessions of %s\n", n, u.Email)
			return nil
		})
	}
}

func purgeFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(e env, cfg config.Config, _ *flag.FlagSet) error {
		return withApp(e, cfg, func(a *app) error {
			n, err := a.manager.Purge(e.ctx)
			if err != nil {
				return cliError(err)
			}
			fmt.Fprintf(e.stdout, "purged %d expired sessions\n", n)
			return nil
		})
	}
}
