package main

// Signals the daemon must survive in order: each test failed against the code it was written
// for and names the scenario it guards.

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP is what a daemon started from a terminal gets when the terminal or the ssh session
// goes away, and what an operator sends expecting a reload. Go's default for SIGHUP is to exit
// at once, so a daemon that does not catch it dies with every order still resting in the book.
// Until SIGHUP means reload, it must take the orderly path of SIGTERM: cancel everything,
// wait for the exchange to confirm, log shutdown_complete with open_orders 0, exit 0.
func TestSIGHUPCancelsBeforeExit(t *testing.T) {
	r, cmd, stderr, exited := startMainProcess(t)

	// Read the whole log: signal once an order has been sent, remember shutdown_complete.
	sent := make(chan struct{})
	complete := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			if !once && strings.Contains(line, `"msg":"order_sent"`) {
				once = true
				close(sent)
			}
			if strings.Contains(line, `"msg":"shutdown_complete"`) {
				complete <- line
			}
		}
		close(complete)
	}()
	select {
	case <-sent:
	case <-time.After(60 * time.Second):
		t.Fatalf("no order_sent within 60s; stderr: %s", stderr.String())
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("mmd died on SIGHUP (%v) instead of cancelling its orders and exiting 0; stderr: %s", exit, stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("mmd did not exit within 60s of SIGHUP")
	}
	line, ok := <-complete
	if !ok {
		t.Fatal("no shutdown_complete after SIGHUP")
	}
	if !strings.Contains(line, `"open_orders":0`) {
		t.Fatalf("shutdown_complete with orders left: %s", line)
	}
}
