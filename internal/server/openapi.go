package server

import (
	"io"
	"net/http"

	"github.com/sessiond/sessiond"
)

// handleOpenAPI: GET /openapi.json, the API's contract (sessiond.OpenAPI).
func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNoSniff
	io.WriteString(w, sessiond.OpenAPI())
}
