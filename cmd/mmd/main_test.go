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

// mmdProcess is mmd's main running as a real process, paper-trading one tight ladder.
type mmdProcess struct {
	cmd    *exec.Cmd
	stdout *os.File // the read end of its stdout
	stderr *strings.Builder
	exited chan error // Wait's result
}

// startMainProcess starts mmd, through wrapper (e.g. nohup) if given. The process is killed
// when the test ends if it is still running.
func startMainProcess(t *testing.T, wrapper ...string) *mmdProcess {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(tickStrategy), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &mmdProcess{stdout: r, stderr: &strings.Builder{}, exited: make(chan error, 1)}
	argv := append(append([]string{}, wrapper...), os.Args[0]) // a wrapper such as nohup execs mmd in place
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), mainArgsEnv+"=run --strategies "+dir)
	p.cmd.Stdout, p.cmd.Stderr = w, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// followLog reads the log until it ends: sent closes at the first order_sent, complete gets
// the shutdown_complete line (and is closed without one if the log ends first). With
// stopAfterSent the reader stops reading (and closes its end) at the first order_sent.
func (p *mmdProcess) followLog(stopAfterSent bool) (sent <-chan struct{}, complete <-chan string) {
	s, c := make(chan struct{}), make(chan string, 1)
	go func() {
		defer close(c)
		defer p.stdout.Close()
		sc := bufio.NewScanner(p.stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			if !once && strings.Contains(line, `"msg":"order_sent"`) {
				once = true
				close(s)
				if stopAfterSent {
					return
				}
			}
			if strings.Contains(line, `"msg":"shutdown_complete"`) {
				c <- line
			}
		}
	}()
	return s, c
}

// waitSent waits until the daemon has an order out.
func (p *mmdProcess) waitSent(t *testing.T, sent <-chan struct{}) {
	t.Helper()
	select {
	case <-sent:
	case <-time.After(60 * time.Second):
		t.Fatalf("no order_sent within 60s; stderr: %s", p.stderr.String())
	}
}

// signalAndWaitExit0 sends sigs in order and requires mmd to exit 0 within a minute.
func (p *mmdProcess) signalAndWaitExit0(t *testing.T, sigs ...os.Signal) {
	t.Helper()
	for _, s := range sigs {
		if err := p.cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-p.exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("mmd exited with %v after %v, want 0; stderr: %s", exit, sigs, p.stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mmd did not exit within 60s of %v", sigs)
	}
}

// requireCleanShutdown requires a shutdown_complete line with no order left open.
func requireCleanShutdown(t *testing.T, complete <-chan string) {
	t.Helper()
	line, ok := <-complete
	if !ok {
		t.Fatal("no shutdown_complete")
	}
	if !strings.Contains(line, `"open_orders":0`) {
		t.Fatalf("shutdown_complete with orders left: %s", line)
	}
}

// The reader of mmd's log going away (`mmd run | jq`, then Ctrl-C reaches jq first) must not
// kill mmd with SIGPIPE before it has cancelled its orders: it shuts down and exits 0.
func TestBrokenStdoutDoesNotStopShutdown(t *testing.T) {
	p := startMainProcess(t)
	sent, _ := p.followLog(true) // every later line goes to a pipe nobody reads
	p.waitSent(t, sent)
	p.signalAndWaitExit0(t, syscall.SIGINT)
}

// SIGHUP is what a daemon started from a terminal gets when the terminal or the ssh session
// goes away, and what an operator sends expecting a reload. Go's default for SIGHUP is to exit
// at once, so a daemon that does not catch it dies with every order still resting in the book.
// Until SIGHUP means reload, it must take the orderly path of SIGTERM: cancel everything,
// wait for the exchange to confirm, log shutdown_complete with open_orders 0, exit 0.
func TestSIGHUPCancelsBeforeExit(t *testing.T) {
	p := startMainProcess(t)
	sent, complete := p.followLog(false)
	p.waitSent(t, sent)
	p.signalAndWaitExit0(t, syscall.SIGHUP)
	requireCleanShutdown(t, complete)
}

// `nohup mmd run ... &` starts mmd with SIGHUP ignored, so that logging out of the ssh
// session does not stop it. Go keeps an inherited SIG_IGN for SIGHUP unless the program
// asks to be notified of it; catching SIGHUP unconditionally undid nohup, and the logout
// stopped the daemon. Here the logout's SIGHUP is followed by the operator's SIGTERM: with
// SIGHUP ignored, the SIGTERM is the first signal and takes the orderly path (exit 0); with
// SIGHUP caught, the SIGTERM was a second signal and mmd exited at once (130), orders and all.
func TestNohupKeepsSIGHUPIgnored(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skip("no nohup on PATH")
	}
	p := startMainProcess(t, nohup)
	sent, complete := p.followLog(false)
	p.waitSent(t, sent)
	p.signalAndWaitExit0(t, syscall.SIGHUP, syscall.SIGTERM)
	requireCleanShutdown(t, complete)
}
