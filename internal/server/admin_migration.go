package server

import (
	"net/http"

	"github.com/sessiond/sessiond"
)

// migrationState is the answer of /admin/v1/migration. Scope says what the
// switch covers: this node only.
type migrationState struct {
	Enabled bool   `json:"enabled"`
	Scope   string `json:"scope"`
}

var errNoMigration = sessiond.Errorf(sessiond.CodeNotFound, "legacy migration is not configured (--legacy-validate-url)")

// handleAdminGetMigration: GET /admin/v1/migration, whether this node
// migrates legacy cookies.
func (s *server) handleAdminGetMigration(w http.ResponseWriter, r *http.Request) {
	if s.Migrator == nil {
		writeError(w, errNoMigration)
		return
	}
	writeJSON(w, http.StatusOK, migrationState{Enabled: s.Migrator.Enabled(), Scope: "node"})
}

// handleAdminPutMigration: PUT /admin/v1/migration {"enabled": bool}, the
// rollback switch at run time. It switches this node only, until it
// restarts (then --migration holds again): a deployment of several nodes
// calls each. Every call is an audit log line, a change or not.
func (s *server) handleAdminPutMigration(w http.ResponseWriter, r *http.Request) {
	if s.Migrator == nil {
		writeError(w, errNoMigration)
		return
	}
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.Enabled == nil {
		writeError(w, sessiond.Errorf(sessiond.CodeInvalidInput, `"enabled" is required: true or false`))
		return
	}
	was := s.Migrator.SetEnabled(*in.Enabled)
	s.log.Info("audit", "event", "migration_switched", "enabled", *in.Enabled, "was", was, "via", "admin_api",
		"ip", s.client(r).IPAddress, "request_id", r.Header.Get("X-Request-Id"))
	writeJSON(w, http.StatusOK, migrationState{Enabled: *in.Enabled, Scope: "node"})
}
