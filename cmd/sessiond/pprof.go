//go:build pprof

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A build with -tags pprof (the benchmark's -profile) serves net/http/pprof
// on SESSIOND_PPROF_LISTEN, a loopback address, so that a profile can be
// taken of the server under load. Release builds have none of it.
func init() {
	if addr := os.Getenv("SESSIOND_PPROF_LISTEN"); addr != "" {
		go func() { log.Println(http.ListenAndServe(addr, nil)) }()
	}
}
