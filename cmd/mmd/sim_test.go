package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// lockedBuffer collects the logs the command writes from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningSim is `mmd sim` running in-process.
type runningSim struct {
	out    map[string]string // "key: value" lines printed on start
	stdout string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startSim runs the command until it has printed its last start-up line (lastKey).
func startSim(t *testing.T, lastKey string, args ...string) *runningSim {
	t.Helper()
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	r := &runningSim{out: map[string]string{}, logs: logs, cancel: cancel, done: make(chan error, 1)}
	c := &SimCommand{Main: &Main{Stdout: pw, Stderr: logs}}
	go func() {
		err := c.Run(ctx, args)
		pw.Close()
		r.done <- err
	}()
	lines := make(chan string)
	go func() { // drains stdout until the command closes it
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		for range lines {
		}
	})
	deadline := time.After(10 * time.Second)
	var all []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sim exited before start-up finished: %v\nstdout: %s\nlogs: %s", <-r.done, all, logs)
			}
			all = append(all, line)
			k, v, _ := strings.Cut(line, ": ")
			r.out[k] = v
			if k == lastKey {
				r.stdout = strings.Join(all, "\n")
				return r
			}
		case <-deadline:
			t.Fatalf("no %q line; stdout so far %q", lastKey, all)
		}
	}
}

// stop cancels the command's context and returns what Run returned.
func (r *runningSim) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not stop")
		return nil
	}
}

func signedGet(t *testing.T, base, key, secret, path string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "GET" + path))
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("API-KEY", key)
	req.Header.Set("API-TIMESTAMP", ts)
	req.Header.Set("API-SIGNATURE", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("AUTH-TYPE", "HMAC")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestSimCommandDemo: started without an accounts file it serves on the printed URLs and
// the printed demo credentials work; on cancel it shuts down cleanly and returns nil.
func TestSimCommandDemo(t *testing.T) {
	r := startSim(t, "secret", "--listen", "127.0.0.1:0", "--tick", "20ms", "--seed", "3")
	rest, ws := r.out["rest_url"], r.out["ws_url"]
	if !strings.HasPrefix(rest, "http://127.0.0.1:") || !strings.HasSuffix(rest, "/APITrade") ||
		!strings.HasPrefix(ws, "ws://127.0.0.1:") || !strings.HasSuffix(ws, "/APITradeWS/v1/messages") {
		t.Fatalf("URLs %q %q", rest, ws)
	}
	if r.out["auth_type"] != "HMAC" || !strings.HasPrefix(r.out["api_key"], "demo-") || r.out["secret"] == "" {
		t.Fatalf("demo account %v", r.out)
	}
	if status, body := signedGet(t, rest, r.out["api_key"], r.out["secret"], "/v1/account/assets"); status != 200 || !strings.Contains(body, `"asset":"BTC"`) {
		t.Fatalf("assets with the printed credentials: %d %s", status, body)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	logs := r.logs.String()
	for _, event := range []string{`"msg":"sim_started"`, `"msg":"sim_shutdown"`, `"msg":"sim_stopped"`} {
		if !strings.Contains(logs, event) {
			t.Errorf("logs lack %s:\n%s", event, logs)
		}
	}
	if strings.Contains(logs, r.out["secret"]) {
		t.Error("the secret was logged")
	}
}

// TestSimCommandAccountsFile: with an accounts file no secret is printed, and fault flags
// are applied.
func TestSimCommandAccountsFile(t *testing.T) {
	const secret = "file-secret-not-printed"
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	text := "accounts:\n  - apiKey: k1\n    authType: HMAC\n    secret: " + secret + "\n" +
		"instruments:\n  - {instrumentID: ETH-BTC, pricePrecision: 6, volumePrecision: 3}\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startSim(t, "accounts", "--listen", "127.0.0.1:0", "--accounts", path, "--query-limit", "2", "--clock-skew", "1h")
	if r.out["accounts"] != "k1 (HMAC)" || strings.Contains(r.stdout, secret) {
		t.Fatalf("stdout %q", r.stdout)
	}
	rest := r.out["rest_url"]
	// --clock-skew: our unskewed timestamp is an hour off.
	if status, body := signedGet(t, rest, "k1", secret, "/v1/account/assets"); status != 401 || !strings.Contains(body, `"1001"`) {
		t.Errorf("with clock skew: %d %s, want 1001", status, body)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.logs.String(), secret) {
		t.Error("the secret was logged")
	}
}

func TestSimCommandFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--signing", "v9"},
		{"--fail-rate", "2"},
		{"--tick", "0s"},
		{"--volatility", "wild"},
		{"--latency", "-1s"},
		{"--nope"},
		{"extra"},
		{"--accounts", filepath.Join(t.TempDir(), "missing.yaml")},
		{"--listen", "256.0.0.1:1"},
		{"--log-level", "loud"},
	} {
		var out, errOut bytes.Buffer
		c := &SimCommand{Main: &Main{Stdout: &out, Stderr: &errOut}}
		if err := c.Run(t.Context(), append([]string{"--listen", "127.0.0.1:0"}, args...)); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	c := &SimCommand{Main: &Main{Stdout: io.Discard, Stderr: io.Discard}}
	if err := c.Run(t.Context(), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(c.Usage(), "--drop-every") {
		t.Error("usage does not list the fault flags")
	}
}

// A configured volatility of 0 holds the market still; the simulator's own zero would mean
// its default of 2 bps.
func TestSimVolatilityZeroHoldsStill(t *testing.T) {
	if v := simVolatility(decimal.Zero); v.IsZero() || v.GreaterThan(decimal.New(1, -9)) {
		t.Fatalf("simVolatility(0) = %s, want a tiny positive value", v)
	}
	if v := simVolatility(decimal.NewFromInt(3)); !v.Equal(decimal.NewFromInt(3)) {
		t.Fatalf("simVolatility(3) = %s", v)
	}
}
