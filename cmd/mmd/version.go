package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// VersionCommand prints the version, the commit and the Go version.
type VersionCommand struct{ Main *Main }

func (c *VersionCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Main prints the error, and Usage for -h
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	commit, modified := buildCommit()
	if modified {
		commit += "-dirty"
	}
	fmt.Fprintf(c.Main.Stdout, "mmd %s commit %s %s %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func (c *VersionCommand) Usage() string {
	return "Usage: mmd version\n\nPrints the version, the commit it was built from and the Go version.\n"
}

// buildCommit reads the VCS stamp the go command embeds in binaries built from a checkout.
func buildCommit() (commit string, modified bool) {
	commit = "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return commit, false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return commit, modified
}
