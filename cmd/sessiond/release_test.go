package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestVersion_PrintsTheBuildInformation runs "sessiond version" through run:
// a test binary has no VCS stamp, so the commit and date say unknown rather
// than being left out.
func TestVersion_PrintsTheBuildInformation(t *testing.T) {
	out, _, err := cli(t, "", "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sessiond ", "\ncommit  ", "\ndate    ", "\ngo      " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
