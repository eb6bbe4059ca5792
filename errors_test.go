package sessiond_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestErrors_ClassSentinelsMatchTheirCodeSpecificErrorsOnlyThemselves: a
// class sentinel stands for every error of its code, but a more specific
// error of the same code is not every such error (#13.5).
func TestErrors_ClassSentinelsMatchTheirCodeSpecificErrorsOnlyThemselves(t *testing.T) {
	ambiguous := sessiond.Errorf(sessiond.CodeUnauthenticated, "more than one valid session cookie")
	for _, c := range []struct {
		name        string
		err, target error
		want        bool
	}{
		{"a specific error is of its class", ambiguous, sessiond.ErrUnauthenticated, true},
		{"the class is not the specific error", sessiond.ErrUnauthenticated, ambiguous, false},
		{"two specific errors of one code differ", sessiond.Errorf(sessiond.CodeUnauthenticated, "x"), ambiguous, false},
		{"a specific error is itself", ambiguous, ambiguous, true},
		{"wrapped, still of its class", fmt.Errorf("load: %w", sessiond.Errorf(sessiond.CodeInvalidInput, "bad")), sessiond.ErrInvalidInput, true},
		{"another code is not the class", sessiond.Errorf(sessiond.CodeConflict, "x"), sessiond.ErrNotFound, false},
		{"a class sentinel is itself", sessiond.ErrNotFound, sessiond.ErrNotFound, true},
	} {
		if got := errors.Is(c.err, c.target); got != c.want {
			t.Errorf("%s: errors.Is = %v, want %v", c.name, got, c.want)
		}
	}
}
