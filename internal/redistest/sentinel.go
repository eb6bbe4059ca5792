package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Sentinel starts a Redis master and one Sentinel watching it, both of the
// test's own on free loopback ports, and returns the store URL that reaches
// the master through the Sentinel. They are shut down when the test ends.
func Sentinel(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("redis-server is not installed and SESSIOND_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("redis-server is not installed")
	}
	dir := t.TempDir()
	master, sentinel := freePort(t), freePort(t)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("redis-server %v: %v %s", args, err, out)
		}
	}
	run("--port", strconv.Itoa(master), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "yes",
		"--logfile", filepath.Join(dir, "master.log"), "--pidfile", filepath.Join(dir, "master.pid"))
	waitPort(t, master)
	conf := filepath.Join(dir, "sentinel.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize yes\nlogfile %s\npidfile %s\n"+
		"sentinel monitor sessiond 127.0.0.1 %d 1\nsentinel down-after-milliseconds sessiond 1000\n",
		sentinel, filepath.Join(dir, "sentinel.log"), filepath.Join(dir, "sentinel.pid"), master)), 0o644)
	run(conf, "--sentinel")
	waitPort(t, sentinel)
	t.Cleanup(func() {
		for _, p := range []int{sentinel, master} {
			exec.Command("redis-cli", "-p", strconv.Itoa(p), "shutdown", "nosave").Run()
		}
	})
	return fmt.Sprintf("redis://127.0.0.1:%d/0?master_set=sessiond", sentinel)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(t testing.TB, port int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d", port)
		}
	}
}
