package sessionhttp

import "github.com/sessiond/sessiond"

// Outcome is how one migration attempt ended, as logged and counted.
type Outcome string

// Migration outcomes.
const (
	OutcomeMigrated     Outcome = "migrated"
	OutcomeDeduplicated Outcome = "deduplicated"
	OutcomeInvalid      Outcome = "invalid"
	OutcomeBackendError Outcome = "backend_error"
	OutcomeReplay       Outcome = "replay_refused"
	OutcomeStoreError   Outcome = "store_error"
	OutcomeThrottled    Outcome = "throttled"
)

// Migrated reports whether the attempt produced a session (a new one, or
// the one a parallel request made): the caller sets its cookie.
func (o Outcome) Migrated() bool { return o == OutcomeMigrated || o == OutcomeDeduplicated }

// Refused reports whether the legacy credential will never migrate
// (invalid, ended, or a replay): its cookies are expired and the request
// goes on without a session.
func (o Outcome) Refused() bool { return o == OutcomeInvalid || o == OutcomeReplay }

// Unknown reports whether the attempt could not tell (the old backend or
// the store failed, or the address is throttled): the legacy cookies are
// kept, so that a later attempt can still migrate them.
func (o Outcome) Unknown() bool { return !o.Migrated() && !o.Refused() }

// Result is the outcome of one migration attempt.
type Result struct {
	Outcome Outcome
	Token   string
	Session *sessiond.Session
}
