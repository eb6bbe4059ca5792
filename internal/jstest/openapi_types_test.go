package jstest

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestOpenAPITypes_AreWhatTheDocumentGenerates: the TypeScript types of
// @sessiond/client (client/src/openapi.d.ts) are exactly what
// openapi-typescript generates from the repository's openapi.json, so the
// JavaScript packages cannot drift from the API contract that
// internal/server's tests hold the server to. openapi-typescript has an
// install of its own (clients/js/tools/openapi-types): it runs on
// TypeScript 5's compiler API, the packages build with TypeScript 7.
// Regenerate with: cd clients/js && npm run openapi:types
func TestOpenAPITypes_AreWhatTheDocumentGenerates(t *testing.T) {
	node := testenv.Tool(t, "node")
	npm := testenv.Tool(t, "npm")
	js, err := filepath.Abs("../../clients/js")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tools := filepath.Join(js, "tools", "openapi-types")
	if stale, why := nodeModulesStale(tools); stale {
		t.Logf("running npm ci in %s: %s", tools, why)
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = tools
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", tools, err, out)
		}
	}
	cmd := exec.CommandContext(ctx, node, "scripts/openapi-types.mjs")
	cmd.Dir = js
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node scripts/openapi-types.mjs (check) in %s: %v\n%s", js, err, out)
	}
}
