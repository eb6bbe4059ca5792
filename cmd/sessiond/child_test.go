package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveArgsEnv holds the arguments (JSON) of the "sessiond serve" that
// TestServeChild runs as a process of its own: for a test that kills its
// node, or one of the garbage collector's settings, which are the
// process's and so cannot share the test binary with other tests' servers.
const serveArgsEnv = "SESSIOND_TEST_SERVE_ARGS"

func TestServeChild(t *testing.T) {
	raw := os.Getenv(serveArgsEnv)
	if raw == "" {
		t.Skip("the server of a test that needs a process of its own")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...),
		getenvFrom(nil), strings.NewReader(""), io.Discard, os.Stderr)
	t.Fatalf("serve returned: %v", err)
}

// startChild runs "sessiond serve" with args in a process of its own and
// returns its URL and the process, which is killed when the test ends if
// it has not been.
func startChild(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	// The collector's settings are the test's: none from the environment.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
	})
	cmd.Env = append(env, serveArgsEnv+"="+string(raw))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://" + m[1]
			}
		}
	}()
	select {
	case url := <-addr:
		return url, cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("sessiond serve %v did not listen within 30s", args)
		return "", nil
	}
}
