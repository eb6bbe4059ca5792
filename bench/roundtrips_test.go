package main

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoLines answers every line it reads with the same line.
func echoLines(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := c.Write(append(sc.Bytes(), '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestRelayCountsRoundTrips(t *testing.T) {
	r := startRelay(echoLines(t))
	defer r.close()
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	ask := func(lines ...string) {
		for _, l := range lines {
			if _, err := c.Write([]byte(l + "\n")); err != nil {
				t.Fatal(err)
			}
		}
		for range lines {
			if _, err := rd.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three requests each waiting for its answer: three round trips.
	ask("a")
	ask("b")
	ask("c")
	if got := r.trips.Load(); got != 3 {
		t.Errorf("3 sequential requests: %d round trips", got)
	}
	// Two requests written in one burst before any answer: one wait.
	c.Write([]byte("d\ne\n"))
	rd.ReadString('\n')
	rd.ReadString('\n')
	if got := r.trips.Load(); got != 4 {
		t.Errorf("then 2 pipelined requests: %d round trips in all, want 4", got)
	}
}

func TestRelayed(t *testing.T) {
	for _, c := range []struct{ store, target, rewritten string }{
		{"redis://127.0.0.1:6379/0?prefix=p", "127.0.0.1:6379", "redis://127.0.0.1:9/0?prefix=p"},
		{"redis://localhost/0", "localhost:6379", "redis://127.0.0.1:9/0"},
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=s", "127.0.0.1:5432", "postgres://postgres@127.0.0.1:9/test?sslmode=disable&search_path=s"},
	} {
		target, rewrite, ok := relayed(c.store)
		if !ok || target != c.target || rewrite("127.0.0.1:9") != c.rewritten {
			t.Errorf("relayed(%q) = %q, %v; rewritten %q", c.store, target, ok, rewrite("127.0.0.1:9"))
		}
	}
	for _, store := range []string{
		"redis://127.0.0.1:17101?addr=127.0.0.1:17102&addr=127.0.0.1:17103",
		"sqlite:/tmp/x.db",
		"host=127.0.0.1 dbname=test",
	} {
		if _, _, ok := relayed(store); ok {
			t.Errorf("relayed(%q): ok, want refused", store)
		}
	}
}
