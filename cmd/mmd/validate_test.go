package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmd-dev/mmd/config"
)

const validLadder = `name: eth-btc
type: ladder
instrument: ETH-BTC
params:
  levels: 2
  spreadBps: 20
  size: 0.01
`

// validateFixture writes mmd.yaml and strategies/* into a fresh directory.
func validateFixture(t *testing.T, daemon string, strategies map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "strategies"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mmd.yaml")
	writeFile(t, path, daemon)
	for name, body := range strategies {
		writeFile(t, filepath.Join(dir, "strategies", name), body)
	}
	return path
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runValidate runs the command in-process and returns what it printed and its error.
func runValidate(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &ValidateCommand{Main: &Main{Stdout: &out, Stderr: &errOut}, Getenv: func(k string) string { return env[k] }}
	err = c.Run(t.Context(), args)
	return out.String(), errOut.String(), err
}

func TestValidate(t *testing.T) {
	const sim = "exchange:\n  environment: sim\nstrategies: strategies\n"
	tests := []struct {
		name       string
		daemon     string
		strategies map[string]string
		env        map[string]string
		want       []string // the lines printed, with the fixture directory written as DIR
	}{
		{"good", sim, map[string]string{"a.yaml": validLadder}, nil,
			[]string{"ok: 1 strategies"}},
		{"disabled counted", sim, map[string]string{"a.yaml": validLadder, "b.yaml": "enabled: false\n" + strings.Replace(validLadder, "name: eth-btc", "name: b", 1)}, nil,
			[]string{"ok: 2 strategies (1 disabled)"}},
		{"unknown key", sim + "shutdown: {timout: 5s}\n", nil, nil,
			[]string{`DIR/mmd.yaml:4: shutdown.timout: unknown key (did you mean "timeout"?)`}},
		{"wrong type", "exchange:\n  environment: sim\n  depth: deep\n", nil, nil,
			[]string{`DIR/mmd.yaml:3: exchange.depth: want a whole number, got "deep"`}},
		{"missing required key", "exchange:\n  depth: 5\n", nil, nil,
			[]string{"DIR/mmd.yaml:1: exchange.environment: required: one of production, staging, preview, sim"}},
		{"bad decimal", sim + "risk:\n  priceBandBps: 1..5\n", nil, nil,
			[]string{`DIR/mmd.yaml:5: risk.priceBandBps: want a decimal number such as 0.05, got "1..5"`}},
		{"bad duration", sim + "risk:\n  maxBookAge: 5 seconds\n", nil, nil,
			[]string{`DIR/mmd.yaml:5: risk.maxBookAge: want a duration such as 500ms, 10s or 1m30s, got "5 seconds"`}},
		{"missing variable", "exchange:\n  environment: ${MMD_ENV}\n", nil, nil,
			[]string{"DIR/mmd.yaml:2: exchange.environment: environment variable MMD_ENV is not set or is empty"}},
		{"empty variable", "exchange:\n  environment: ${MMD_ENV}\n", nil, map[string]string{"MMD_ENV": ""},
			[]string{"DIR/mmd.yaml:2: exchange.environment: environment variable MMD_ENV is not set or is empty"}},
		{"quoted number", "exchange:\n  environment: sim\n  depth: \"20\"\n", nil, nil,
			[]string{`DIR/mmd.yaml:3: exchange.depth: want a whole number, got the quoted text "20" (whole numbers go without quotes)`}},
		{"quoted duration", sim + "shutdown:\n  timeout: \"10s\"\n", map[string]string{"a.yaml": validLadder}, nil,
			[]string{"ok: 1 strategies"}},
		{"no enabled strategy", sim, map[string]string{"a.yaml": validLadder + "enabled: false\n"}, nil,
			[]string{"DIR/mmd.yaml: strategies: no enabled strategy in DIR/strategies (mmd run would refuse to start)"}},
		{"bad global limit, reported once", sim + "risk:\n  priceBandBps: 10000\n", map[string]string{"a.yaml": validLadder + "risk:\n  maxOpenOrders: 4\n"}, nil,
			[]string{"DIR/mmd.yaml:5: risk.priceBandBps: must be below 10000 (100 %) (got 10000)"}},
		{"required params missing", sim, map[string]string{"a.yaml": strings.Split(validLadder, "  spreadBps")[0]}, nil,
			[]string{"DIR/strategies/a.yaml:4: params.spreadBps: required: must be > 0",
				"DIR/strategies/a.yaml:4: params.size: required: must be > 0"}},
		{"local address with the simulator", "exchange:\n  environment: sim\n  localAddress: 127.0.0.1\n", nil, nil,
			[]string{"DIR/mmd.yaml:3: exchange.localAddress: not used with environment sim; remove it"}},
		{"variable set", "exchange:\n  environment: ${MMD_ENV}\n", map[string]string{"a.yaml": validLadder}, map[string]string{"MMD_ENV": "sim"},
			[]string{"ok: 1 strategies"}},
		{"unknown strategy type", sim, map[string]string{"a.yaml": strings.Replace(validLadder, "type: ladder", "type: ladderr", 1)}, nil,
			[]string{`DIR/strategies/a.yaml:2: type: unknown strategy type "ladderr" (known: ladder)`}},
		{"duplicate strategy name", sim, map[string]string{"a.yaml": validLadder, "b.yaml": validLadder}, nil,
			[]string{`DIR/strategies/b.yaml:1: name: duplicate strategy name "eth-btc": also in DIR/strategies/a.yaml:1`}},
		{"bad param", sim, map[string]string{"a.yaml": validLadder + "  sizeStp: 0.01\n"}, nil,
			[]string{`DIR/strategies/a.yaml:8: params.sizeStp: unknown key (did you mean "sizeStep"?)`}},
		{"bad param decimal", sim, map[string]string{"a.yaml": strings.Replace(validLadder, "size: 0.01", "size: 0.01ETH", 1)}, nil,
			[]string{`DIR/strategies/a.yaml:7: params.size: want a decimal number such as 0.05, got "0.01ETH"`}},
		{"problems in several files", "exchange:\n  environment: sim\n  depth: 15\n", map[string]string{"a.yaml": strings.Replace(validLadder, "levels: 2", "levels: 0", 1)}, nil,
			[]string{"DIR/mmd.yaml:3: exchange.depth: must be 5, 10, 20 or 50, got 15",
				"DIR/strategies/a.yaml:5: params.levels: must be between 1 and 50, got 0"}},
		{"missing secret file", "exchange:\n  environment: staging\n  apiKey: k\n  secretFile: nothere\n", nil, nil,
			[]string{"DIR/mmd.yaml:4: exchange.secretFile: no such file (looked in DIR, beside the daemon file)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := validateFixture(t, tt.daemon, tt.strategies)
			out, _, err := runValidate(t, tt.env, "--config", path)
			got := strings.ReplaceAll(out, filepath.Dir(path), "DIR")
			if want := strings.Join(tt.want, "\n") + "\n"; got != want {
				t.Errorf("printed:\n%s\nwant:\n%s", got, want)
			}
			wantOK := strings.HasPrefix(tt.want[0], "ok:")
			var exit exitError
			switch {
			case wantOK && err != nil:
				t.Errorf("error %v, want none", err)
			case !wantOK && (!errors.As(err, &exit) || exit != 1):
				t.Errorf("error %v, want exitError(1)", err)
			}
		})
	}
}

// TestValidateThroughMain runs the command the way the binary does, exit code included.
func TestValidateThroughMain(t *testing.T) {
	good := validateFixture(t, "exchange:\n  environment: sim\n", map[string]string{"a.yaml": validLadder})
	bad := validateFixture(t, "exchange:\n  environment: simulator\n", nil)
	tests := []struct {
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{[]string{"validate", "--config", good}, 0, "ok: 1 strategies\n", ""},
		{[]string{"validate", "-config", bad}, 1, bad + `:2: exchange.environment: unknown environment "simulator" (want one of production, staging, preview, sim)` + "\n", ""},
		{[]string{"validate", "--config", filepath.Join(t.TempDir(), "none.yaml")}, 1, "", ""},
		{[]string{"validate", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"validate", "-h"}, 0, "Usage: mmd validate", ""},
		{[]string{"validate", "--config", good, "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := (&Main{Stdout: &out, Stderr: &errOut}).Run(tt.args)
		if code != tt.code || !strings.HasPrefix(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.inStderr) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want %d, %q…, …%q…", tt.args, code, out.String(), errOut.String(), tt.code, tt.stdout, tt.inStderr)
		}
	}
}

// TestValidateDeployExample: the example files shipped in deploy/ pass, offline and against
// the embedded simulator.
func TestValidateDeployExample(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "mmd.yaml")
	for _, args := range [][]string{{"--config", path}, {"--config", path, "--online"}} {
		out, _, err := runValidate(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "ok: 3 strategies") {
			t.Errorf("%v: %q, %v", args, out, err)
		}
	}
}

func TestValidateOnline(t *testing.T) {
	// An exchange on loopback reached the way production is: environment staging with the
	// URLs overridden, signed with the key and secret from the files.
	ex := loopbackSim(t)
	acct := ex.Accounts()[0]
	remote := "exchange:\n  environment: staging\n  restURL: " + ex.RESTURL() + "\n  wsURL: " + ex.WSURL() +
		"\n  apiKey: " + acct.APIKey + "\n  authType: " + acct.AuthType + "\n  secretEnv: MMD_SECRET\n"
	env := map[string]string{"MMD_SECRET": acct.Secret}
	const sim = "exchange:\n  environment: sim\n"
	tests := []struct {
		name       string
		daemon     string
		strategies map[string]string
		env        map[string]string
		want       []string
	}{
		{"embedded simulator", sim, map[string]string{"a.yaml": validLadder}, nil,
			[]string{"ok: 1 strategies, checked against the instruments of the embedded simulator"}},
		{"instrument not listed", sim, map[string]string{"a.yaml": strings.Replace(validLadder, "ETH-BTC", "BTC-HKD", 1)}, nil,
			[]string{"DIR/strategies/a.yaml:3: instrument: instrument BTC-HKD is not listed by the exchange"}},
		{"size finer than the lot", sim, map[string]string{"a.yaml": strings.Replace(validLadder, "size: 0.01", "size: 0.0005", 1)}, nil,
			[]string{"DIR/strategies/a.yaml:7: params.size: 0.0005 has more decimals than ETH-BTC's volume precision of 3 (it would be rounded down to 0)"}},
		{"remote exchange, signed", remote, map[string]string{"a.yaml": validLadder}, env,
			[]string{"ok: 1 strategies, checked against the instruments of " + ex.RESTURL() + " (restURL override of staging)"}},
		{"remote exchange, wrong secret", remote, map[string]string{"a.yaml": validLadder}, map[string]string{"MMD_SECRET": "wrong-secret"},
			[]string{"DIR/mmd.yaml: exchange: listing instruments on " + ex.RESTURL() + " (restURL override of staging): "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := validateFixture(t, tt.daemon, tt.strategies)
			out, _, err := runValidate(t, tt.env, "--config", path, "--online")
			got := strings.ReplaceAll(out, filepath.Dir(path), "DIR")
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			ok := len(lines) == len(tt.want)
			for i := 0; ok && i < len(lines); i++ {
				ok = strings.HasPrefix(lines[i], tt.want[i])
			}
			if !ok {
				t.Errorf("printed:\n%s\nwant lines starting:\n%s", got, strings.Join(tt.want, "\n"))
			}
			if (err == nil) != strings.HasPrefix(tt.want[0], "ok:") {
				t.Errorf("error %v", err)
			}
			if strings.Contains(out, acct.Secret) {
				t.Errorf("secret printed: %s", out)
			}
		})
	}
}

// TestValidateNeverPrintsSecret: the secret stays out of validate's output whether it is
// valid or not, read from a file or the environment, or misplaced into another key.
func TestValidateNeverPrintsSecret(t *testing.T) {
	const secret = "S3CRET-do-not-print-0a1b2c3d4e"
	const head = "exchange:\n  environment: staging\n  apiKey: key-1\n"
	tests := []struct {
		name    string
		daemon  string
		secret  string // content of DIR/api-secret
		env     map[string]string
		wantErr bool
	}{
		{"valid HMAC secret file", head + "  secretFile: api-secret\n", secret + "\n", nil, false},
		{"invalid PUB-PRIV secret file", head + "  authType: PUB-PRIV\n  secretFile: api-secret\n", secret + "\n", nil, true},
		{"invalid PUB-PRIV secret in the environment", head + "  authType: PUB-PRIV\n  secretEnv: MMD_SECRET\n", "", map[string]string{"MMD_SECRET": secret}, true},
		{"secret file that is YAML", head + "  authType: PUB-PRIV\n  secretFile: api-secret\n", "key: " + secret + "\n", nil, true},
		{"secret expanded into other keys", head + "  secretFile: api-secret\n  signing: ${MMD_SECRET}\n  localAddress: ${MMD_SECRET}\n  depth: ${MMD_SECRET}\n",
			secret, map[string]string{"MMD_SECRET": secret}, true},
		{"secret file given as --config", "", "config", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := validateFixture(t, tt.daemon, map[string]string{"a.yaml": validLadder})
			if tt.secret == "config" {
				// The secret file given as the daemon file by mistake.
				path = filepath.Join(filepath.Dir(path), "api-secret")
				tt.secret = secret + "\n"
			}
			if tt.secret != "" {
				writeFile(t, filepath.Join(filepath.Dir(path), "api-secret"), tt.secret)
			}
			out, errOut, err := runValidate(t, tt.env, "--config", path)
			if (err != nil) != tt.wantErr {
				t.Errorf("error %v, wantErr %v; output %q", err, tt.wantErr, out)
			}
			all := out + errOut
			if err != nil {
				all += err.Error()
			}
			if strings.Contains(all, secret) || strings.Contains(all, secret[:10]) {
				t.Fatalf("secret printed:\n%s", all)
			}
		})
	}
}

func TestValidateHelp(t *testing.T) {
	if _, _, err := runValidate(t, nil, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("err %v, want flag.ErrHelp", err)
	}
	if u := (&ValidateCommand{}).Usage(); !strings.Contains(u, "--config FILE") || !strings.Contains(u, "--online") {
		t.Errorf("usage lacks the flags:\n%s", u)
	}
}

func TestScrubber(t *testing.T) {
	tests := []struct {
		secret, in, want string
	}{
		{"", "plain text\n", "plain text\n"},
		{"S3CRET-long", "a S3CRET-long b S3CRET-long\n", "a [redacted] b [redacted]\n"},
		{"s", "short secrets are not scrubbed\n", "short secrets are not scrubbed\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		s := &scrubber{w: &b, secret: tt.secret}
		n, err := s.Write([]byte(tt.in))
		if err != nil || n != len(tt.in) || b.String() != tt.want {
			t.Errorf("%q: wrote %q (%d, %v), want %q", tt.in, b.String(), n, err, tt.want)
		}
	}
}

// TestOnlineTarget: validate --online names the exchange it really asked, which is not the
// environment's own when restURL overrides it.
func TestOnlineTarget(t *testing.T) {
	tests := []struct {
		x    config.Exchange
		want string
	}{
		{config.Exchange{Environment: "sim"}, "the embedded simulator"},
		{config.Exchange{Environment: "staging"}, "staging"},
		{config.Exchange{Environment: "production", DialAddress: "45.249.244.103:443"}, "production via 45.249.244.103:443"},
		{config.Exchange{Environment: "staging", RESTURL: "http://127.0.0.1:8790/APITrade"},
			"http://127.0.0.1:8790/APITrade (restURL override of staging)"},
		{config.Exchange{Environment: "staging", RESTURL: "https://sim.example/APITrade", DialAddress: "10.0.0.1:443"},
			"https://sim.example/APITrade (restURL override of staging) via 10.0.0.1:443"},
	}
	for _, tt := range tests {
		if got := onlineTarget(tt.x); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.x, got, tt.want)
		}
	}
}
