package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildInfo is what "sessiond version" prints: the module version, the
// commit the binary was built from and that commit's date. Release builds
// are reproducible (make release), so the date is the commit's, not the
// moment of the build: two builds of one commit are the same bytes.
type buildInfo struct {
	Version  string // module version, "(devel)" for a build from a checkout
	Commit   string // vcs.revision, "unknown" without VCS information
	Dirty    bool   // vcs.modified: the work tree had uncommitted changes
	Date     string // vcs.time, the commit's date (RFC 3339)
	Go, Arch string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: buildVersion(), Commit: "unknown", Date: "unknown",
		Go: runtime.Version(), Arch: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Date = s.Value
		case "vcs.modified":
			b.Dirty = s.Value == "true"
		}
	}
	return b
}

func printVersion(w io.Writer) error {
	b := readBuildInfo()
	commit := b.Commit
	if b.Dirty {
		commit += "+dirty"
	}
	_, err := fmt.Fprintf(w, "sessiond %s\ncommit  %s\ndate    %s\ngo      %s %s\n", b.Version, commit, b.Date, b.Go, b.Arch)
	return err
}
