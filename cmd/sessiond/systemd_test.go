package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestSystemd_TheUnitVerifiesAndIsHardened runs systemd-analyze verify on
// examples/systemd/sessiond.service, with ExecStart pointed at an
// executable that exists here (this test binary: verify checks only that
// it is executable), and wants no word from it: an unknown or misspelt
// directive is only a warning to systemd. The offline security analysis
// must rate the unit's exposure 2.0 or less (of 10).
func TestSystemd_TheUnitVerifiesAndIsHardened(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze")
	unit, err := os.ReadFile("../../examples/systemd/sessiond.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/sessiond serve\n")) {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/sessiond serve")
	}
	path := filepath.Join(t.TempDir(), "sessiond.service")
	os.WriteFile(path, bytes.Replace(unit, []byte("ExecStart=/usr/local/bin/sessiond"), []byte("ExecStart="+self), 1), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for sessiond.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Fatalf("exposure level %.1f, want 2.0 or less:\n%s", level, out)
	}
}

// TestSystemd_TheEnvironmentFileIsAConfigurationThatWorks reads
// examples/systemd/sessiond.env as systemd would (KEY=VALUE lines) and
// runs "sessiond doctor" on it, the store moved to a temporary directory:
// every variable is a setting, and nothing would break.
func TestSystemd_TheEnvironmentFileIsAConfigurationThatWorks(t *testing.T) {
	f, err := os.Open("../../examples/systemd/sessiond.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readme, _ := os.ReadFile("../../README.md")
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !bytes.Contains(readme, []byte("| `"+k+"` |")) {
			t.Fatalf("sessiond.env: %q is not a setting of the README's configuration table", line)
		}
		vars[k] = v
	}
	if vars["SESSIOND_STORE"] != "sqlite:/var/lib/sessiond/sessiond.db" {
		t.Fatalf("sessiond.env's store %q is not the unit's StateDirectory", vars["SESSIOND_STORE"])
	}
	vars["SESSIOND_STORE"] = "sqlite:" + filepath.Join(t.TempDir(), "sessiond.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"doctor"}, getenvFrom(vars), strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("doctor with sessiond.env: %v\n%s%s", err, out.String(), errOut.String())
	}
}
