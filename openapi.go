package sessiond

import _ "embed"

//go:embed openapi.json
var openAPI string

// OpenAPI returns the OpenAPI 3.1 document of sessiond's HTTP API: every
// route with every answer it gives, success and error. It is openapi.json
// in the repository, and the server serves it at GET /openapi.json;
// internal/server's TestOpenAPI tests hold the server's real answers to it.
func OpenAPI() string { return openAPI }
