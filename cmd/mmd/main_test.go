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

// mainArgsEnv makes the test binary run mmd's main with these (space-separated) arguments
// instead of the tests, so that a test can run the real process: signals, exit codes, pipes.
const mainArgsEnv = "MMD_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(mainArgsEnv); args != "" {
		os.Args = append([]string{"mmd"}, strings.Fields(args)...)
		main()
		return
	}
	os.Exit(m.Run())
}

// The reader of mmd's log going away (`mmd run | jq`, then Ctrl-C reaches jq first) must not
// kill mmd with SIGPIPE before it has cancelled its orders: it shuts down and exits 0.
func TestBrokenStdoutDoesNotStopShutdown(t *testing.T) {
	r, cmd, stderr, exited := startMainProcess(t)

	// Read the log until the strategy has an order out, then stop reading: every later line
	// is written to a pipe nobody reads.
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"order_sent"`) {
				seen <- true
				return
			}
		}
		seen <- false
	}()
	select {
	case ok := <-seen:
		if !ok {
			t.Fatalf("log ended before an order was sent; stderr: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no order_sent within 60s")
	}
	r.Close()

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("mmd exited with %v after its stdout broke (want 0); stderr: %s", exit, stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("mmd did not exit within 60s of SIGINT")
	}
}

// startMainProcess runs mmd's main as a real process, paper-trading one tight ladder, and
// returns the read end of its stdout, the process, its stderr and a channel that gets Wait's
// result. The process is killed when the test ends if it is still running.
func startMainProcess(t *testing.T) (*os.File, *exec.Cmd, *strings.Builder, <-chan error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(tickStrategy), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd := exec.Command(os.Args[0])
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
	return r, cmd, stderr, exited
}
