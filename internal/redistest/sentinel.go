package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// Sentinel starts a Redis master and one Sentinel watching it, both of the
// test's own on free loopback ports, and returns the store URL that reaches
// the master through the Sentinel. They are shut down when the test ends.
func Sentinel(t testing.TB) string {
	t.Helper()
	return StartSentinel(t, 0).URL
}

// SentinelSet is a master, its replicas and one Sentinel (quorum 1), all of
// a test's own, under the master name "sessiond".
type SentinelSet struct {
	URL      string // the store URL, through the Sentinel
	Master   int    // ports
	Replicas []int
	Sentinel int
}

// StartSentinel starts a master with the given number of replicas and a
// Sentinel watching them, and shuts them down when the test ends.
func StartSentinel(t testing.TB, replicas int) *SentinelSet {
	t.Helper()
	bin := testenv.Tool(t, "redis-server")
	dir := t.TempDir()
	set := &SentinelSet{Master: testenv.FreePort(t), Sentinel: testenv.FreePort(t)}
	var started []int
	t.Cleanup(func() {
		for _, p := range slices.Backward(started) {
			exec.Command("redis-cli", "-p", strconv.Itoa(p), "shutdown", "nosave").Run()
		}
	})
	run := func(port int, args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("redis-server %v: %v %s", args, err, out)
		}
		started = append(started, port)
		waitPort(t, port)
	}
	server := func(port int, extra ...string) {
		name := strconv.Itoa(port)
		run(port, append([]string{"--port", name, "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "yes",
			"--logfile", filepath.Join(dir, name+".log"), "--pidfile", filepath.Join(dir, name+".pid"),
			"--dbfilename", name + ".rdb", "--appendfilename", name + ".aof", "--appenddirname", name + "-aof"}, extra...)...)
	}
	server(set.Master)
	for range replicas {
		port := testenv.FreePort(t)
		server(port, "--replicaof", "127.0.0.1", strconv.Itoa(set.Master))
		set.Replicas = append(set.Replicas, port)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize yes\nlogfile %s\npidfile %s\n"+
		"sentinel monitor sessiond 127.0.0.1 %d 1\nsentinel down-after-milliseconds sessiond 1000\n",
		set.Sentinel, filepath.Join(dir, "sentinel.log"), filepath.Join(dir, "sentinel.pid"), set.Master)), 0o644)
	run(set.Sentinel, conf, "--sentinel")
	set.URL = fmt.Sprintf("redis://127.0.0.1:%d/0?master_set=sessiond", set.Sentinel)
	return set
}

// Server is a standalone Redis of a test's own.
type Server struct {
	URL   string
	Port  int
	Start func() // start it again, on the same data
	Stop  func() // a clean shutdown
	Kill  func() // a crash: SIGKILL
}

// Own starts a standalone Redis of the test's own with the given extra
// settings ("--appendonly", "yes", …). It is shut down when the test ends.
func Own(t testing.TB, settings ...string) *Server {
	t.Helper()
	bin := testenv.Tool(t, "redis-server")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	pidfile := filepath.Join(dir, "pid")
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "yes",
		"--pidfile", pidfile, "--logfile", filepath.Join(dir, "log")}, settings...)
	srv := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Port: port}
	srv.Start = func() {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("redis-server %v: %v %s", args, err, out)
		}
		waitPort(t, port)
	}
	srv.Stop = func() {
		t.Helper()
		if err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "shutdown").Run(); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill = func() {
		t.Helper()
		b, err := os.ReadFile(pidfile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Wait until the process is gone and the port free.
		for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("redis-server survived SIGKILL")
			}
		}
	}
	srv.Start()
	t.Cleanup(func() { exec.Command("redis-cli", "-p", strconv.Itoa(port), "shutdown", "nosave").Run() })
	return srv
}

// ClusterSet is a Redis Cluster of a test's own.
type ClusterSet struct {
	URL      string // the store URL: every master as an address
	Masters  []int  // ports
	Replicas []int  // Replicas[i] replicates Masters[i]
}

// StartCluster starts a Cluster of three masters, each with one replica,
// on free loopback ports, with append-only files, and shuts it down when
// the test ends.
func StartCluster(t testing.TB) *ClusterSet {
	t.Helper()
	bin := testenv.Tool(t, "redis-server")
	dir := t.TempDir()
	set := &ClusterSet{}
	var all []string
	t.Cleanup(func() {
		for _, a := range all {
			exec.Command("redis-cli", "-p", strings.TrimPrefix(a, "127.0.0.1:"), "shutdown", "nosave").Run()
		}
	})
	for i := range 6 {
		port := testenv.FreePort(t)
		name := strconv.Itoa(port)
		args := []string{"--port", name, "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "yes", "--save", "",
			"--cluster-enabled", "yes", "--cluster-config-file", name + ".nodes", "--cluster-node-timeout", "2000",
			"--appendonly", "yes", "--appendfsync", "always", "--appendfilename", name + ".aof", "--appenddirname", name + "-aof",
			"--logfile", filepath.Join(dir, name+".log")}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("redis-server %v: %v %s", args, err, out)
		}
		all = append(all, "127.0.0.1:"+name)
		waitPort(t, port)
		if i < 3 {
			set.Masters = append(set.Masters, port)
		} else {
			set.Replicas = append(set.Replicas, port)
		}
	}
	// redis-cli pairs the last three as replicas of the first three, in
	// order, when given masters first.
	create := append([]string{"--cluster", "create"}, all...)
	create = append(create, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v %s", err, out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, p := range append(slices.Clone(set.Masters), set.Replicas...) {
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(p), "cluster", "info").Output()
			ok = ok && strings.Contains(string(out), "cluster_state:ok")
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Cluster did not come up")
		}
	}
	// Which replica follows which master is the Cluster's choice: read it.
	set.Replicas = make([]int, len(set.Masters))
	for _, p := range all[3:] {
		port, _ := strconv.Atoi(strings.TrimPrefix(p, "127.0.0.1:"))
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "info", "replication").Output()
		for line := range strings.Lines(string(out)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "master_port:"); ok {
				mp, _ := strconv.Atoi(v)
				if i := slices.Index(set.Masters, mp); i >= 0 {
					set.Replicas[i] = port
				}
			}
		}
	}
	if slices.Contains(set.Replicas, 0) {
		t.Fatalf("not every master has a replica: masters %v, replicas %v", set.Masters, set.Replicas)
	}
	// A replica is a replica once its first sync is done.
	for _, p := range set.Replicas {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(p), "info", "replication").Output()
			if strings.Contains(string(out), "master_link_status:up") && strings.Contains(string(out), "master_sync_in_progress:0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d did not sync within 20s:\n%s", p, out)
			}
		}
	}
	set.URL = fmt.Sprintf("redis://127.0.0.1:%d?addr=127.0.0.1:%d&addr=127.0.0.1:%d", set.Masters[0], set.Masters[1], set.Masters[2])
	return set
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
