package pgstore_test

import (
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestMain ends the run with one line naming the tests skipped for want
// of a service or a tool, and how to run them.
func TestMain(m *testing.M) { testenv.Main(m) }
