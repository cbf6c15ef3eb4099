package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `nohup mmd run ... &` starts mmd with SIGHUP ignored, so that logging out of the ssh
// session does not stop it. Go keeps an inherited SIG_IGN for SIGHUP unless the program
// asks to be notified of it; catching SIGHUP unconditionally undoes nohup, and the logout
// stops the daemon. Here the logout's SIGHUP is followed by the operator's SIGTERM: with
// SIGHUP ignored, the SIGTERM is the first signal and takes the orderly path (exit 0); with
// SIGHUP caught, the SIGTERM is a second signal and mmd exits at once (130), orders and all.
func TestNohupKeepsSIGHUPIgnored(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skip("no nohup on PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(tickStrategy), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd := exec.Command(nohup, os.Args[0]) // nohup execs mmd in place: the same process
	cmd.Env = append(os.Environ(), mainArgsEnv+"=run --strategies "+dir)
	cmd.Stdout, cmd.Stderr = w, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("mmd started under nohup acted on SIGHUP: the SIGTERM after it was a second signal (%v); stderr: %s", exit, stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("mmd did not exit within 60s of SIGTERM")
	}
	line, ok := <-complete
	if !ok {
		t.Fatal("no shutdown_complete")
	}
	if !strings.Contains(line, `"open_orders":0`) {
		t.Fatalf("shutdown_complete with orders left: %s", line)
	}
}
