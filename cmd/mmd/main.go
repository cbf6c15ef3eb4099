// Command mmd is the market-making daemon for HashKey Pro. This file only dispatches to the
// subcommands; each lives in its own file as a small XCommand type.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A closed stdout — the reader of `mmd run | jq` gone after Ctrl-C, a restarted journald —
	// must not kill the daemon before it has cancelled its orders. With SIGPIPE ignored, a
	// write to a broken pipe fails with EPIPE instead (the log line is lost) and the shutdown
	// goes on.
	signal.Ignore(syscall.SIGPIPE)
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(m.Run(os.Args[1:]))
}

// Main holds what every subcommand shares: where it writes.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
}

// command is one subcommand.
type command interface {
	Run(ctx context.Context, args []string) error
	Usage() string
}

func (m *Main) commands() map[string]command {
	return map[string]command{
		"run":      &RunCommand{Main: m},
		"sim":      &SimCommand{Main: m},
		"validate": &ValidateCommand{Main: m},
		"version":  &VersionCommand{Main: m},
	}
}

// Run dispatches args to a subcommand and returns the process exit code.
func (m *Main) Run(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		m.usage()
		return 0
	}
	cmd, ok := m.commands()[args[0]]
	if !ok {
		fmt.Fprintf(m.Stderr, "mmd: unknown command %q\n\n", args[0])
		m.usage()
		return 2
	}
	// The first SIGINT, SIGTERM or SIGHUP (unless ignored at start, as under nohup) cancels
	// ctx so the command can shut down cleanly (cancel every order, wait for confirmation); a
	// second one exits at once.
	ctx, stop := signalContext(context.Background(), m.Stderr)
	defer stop()
	if err := cmd.Run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(m.Stdout, cmd.Usage())
			return 0
		}
		var bad badConfig
		var usage usageError
		if errors.As(err, &bad) || errors.As(err, &usage) {
			fmt.Fprintf(m.Stderr, "mmd %s: %v\n", args[0], err)
			return 2
		}
		var exit exitError
		if errors.As(err, &exit) {
			// A bare exit status has been explained already; anything wrapping one has not.
			if err.Error() != exit.Error() {
				fmt.Fprintf(m.Stderr, "mmd %s: %v\n", args[0], err)
			}
			return int(exit)
		}
		fmt.Fprintf(m.Stderr, "mmd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// exitError carries a specific exit code out of a command (e.g. validate's "problems found")
// whose cause has been reported already.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a command line the command does not understand (an unknown flag, a stray
// argument): exit status 2, as for an unknown command.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badConfig is a configuration a command refuses: it is reported and the exit status is 2,
// which the systemd unit does not restart on (RestartPreventExitStatus=2).
type badConfig struct{ err error }

func (e badConfig) Error() string { return e.err.Error() }
func (e badConfig) Unwrap() error { return e.err }

func (m *Main) usage() {
	fmt.Fprint(m.Stdout, `mmd — market-making daemon for HashKey Pro

Usage:
  mmd run      [--config FILE] [--strategies DIR]   run the daemon (no config: paper-trade against the built-in simulator)
  mmd sim      [flags]                              run the simulated HashKey Pro exchange
  mmd validate [--config FILE] [--online]           check the daemon and strategy files
  mmd version                                       print version, commit and Go version

Run 'mmd COMMAND -h' for a command's flags.
`)
}

func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	// SIGHUP too: Go's default would exit at once, leaving every order in the book (a closed
	// terminal or ssh session sends it). Until it means reload, it shuts down like SIGTERM.
	// Unless it was ignored at start (nohup): Notify would undo that, and the logout nohup
	// guards against would stop the daemon.
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "mmd: second %v, exiting at once\n", s)
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		<-exited
		cancel()
	}
}
