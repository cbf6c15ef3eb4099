package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmd-dev/mmd/exchange/hashkey"
)

const hmacSecret = "hmac-S3CRET-value-0123456789"

func TestCredentials(t *testing.T) {
	pubPriv := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	tests := []struct {
		name       string
		exchange   string            // the daemon file's exchange block, after "environment: staging"
		files      map[string]string // relative to the daemon file's folder
		credDir    map[string]string // files in $CREDENTIALS_DIRECTORY (unset when nil)
		env        map[string]string
		wantSecret string
		wantAuth   hashkey.AuthType
		want       []at
	}{
		{"file beside the daemon file, newline trimmed", "  secretFile: api-secret\n",
			map[string]string{"api-secret": hmacSecret + "\n"}, nil, nil, hmacSecret, hashkey.AuthHMAC, nil},
		{"CRLF trimmed, inner spaces kept", "  secretFile: api-secret\n",
			map[string]string{"api-secret": " a b \r\n"}, nil, nil, " a b ", hashkey.AuthHMAC, nil},
		{"$CREDENTIALS_DIRECTORY first", "  secretFile: api-secret\n",
			map[string]string{"api-secret": "beside"}, map[string]string{"api-secret": hmacSecret}, nil, hmacSecret, hashkey.AuthHMAC, nil},
		{"beside the daemon file when not in $CREDENTIALS_DIRECTORY", "  secretFile: api-secret\n",
			map[string]string{"api-secret": hmacSecret}, map[string]string{}, nil, hmacSecret, hashkey.AuthHMAC, nil},
		{"environment variable", "  secretEnv: MMD_SECRET\n",
			nil, nil, map[string]string{"MMD_SECRET": hmacSecret}, hmacSecret, hashkey.AuthHMAC, nil},
		{"PUB-PRIV key", "  authType: PUB-PRIV\n  secretFile: key\n",
			map[string]string{"key": pubPriv + "\n"}, nil, nil, pubPriv, hashkey.AuthPubPriv, nil},
		{"missing file", "  secretFile: api-secret\n", nil, nil, nil, "", "",
			[]at{{"mmd.yaml", 4, "exchange.secretFile", "no such file"}}},
		{"missing everywhere", "  secretFile: api-secret\n", nil, map[string]string{}, nil, "", "",
			[]at{{"mmd.yaml", 4, "exchange.secretFile", "no such file (looked in $CREDENTIALS_DIRECTORY "}}},
		{"empty file", "  secretFile: api-secret\n", map[string]string{"api-secret": "\n"}, nil, nil, "", "",
			[]at{{"mmd.yaml", 4, "exchange.secretFile", "is empty"}}},
		{"unset variable", "  secretEnv: MMD_SECRET\n", nil, nil, nil, "", "",
			[]at{{"mmd.yaml", 4, "exchange.secretEnv", "the environment variable named here is not set or is empty"}}},
		{"PUB-PRIV key that is not base64", "  authType: PUB-PRIV\n  secretFile: key\n",
			map[string]string{"key": hmacSecret}, nil, nil, "", "",
			[]at{{"mmd.yaml", 5, "exchange.secretFile", "not valid base64"}}},
		{"PUB-PRIV key of the wrong length", "  authType: PUB-PRIV\n  secretFile: key\n",
			map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(hmacSecret))}, nil, nil, "", "",
			[]at{{"mmd.yaml", 5, "exchange.secretFile", "want 32"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fixture(t, "exchange:\n  environment: staging\n  apiKey: key-1\n"+tt.exchange, nil)
			for name, body := range tt.files {
				write(t, filepath.Join(filepath.Dir(path), name), body)
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.credDir != nil {
				dir := t.TempDir()
				env[credentialsDirEnv] = dir
				for name, body := range tt.credDir {
					write(t, filepath.Join(dir, name), body)
				}
			}
			c, err := Load(path, testRegistry(), envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			creds, err := c.Credentials(envOf(env))
			checkProblems(t, problemsOf(t, err), tt.want)
			if err != nil {
				return
			}
			if creds.Secret.Reveal() != tt.wantSecret || creds.APIKey != "key-1" || creds.AuthType != tt.wantAuth || creds.Scheme != hashkey.SchemeV43 {
				t.Errorf("credentials: key %q auth %q scheme %q secret %q; want key-1 %q v4.3 %q",
					creds.APIKey, creds.AuthType, creds.Scheme, creds.Secret.Reveal(), tt.wantAuth, tt.wantSecret)
			}
		})
	}
}

func TestCredentialsSimWithout(t *testing.T) {
	c, err := Load(fixture(t, simDaemon, nil), testRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Credentials(nil); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("got %v, want ErrNoCredentials", err)
	}
}

// TestSecretNeverShown loads configurations whose secret is good, bad for its auth type, or
// misplaced, and checks that no error, problem or printed form of the config and the
// credentials contains it.
func TestSecretNeverShown(t *testing.T) {
	const secret = "TOPSECRET-9f8e7d6c5b4a-not-a-key"
	tests := []struct {
		name     string
		exchange string
		env      map[string]string
		wantErr  bool // the scenario must fail, so that its error is inspected
	}{
		{"HMAC from a file", "  secretFile: api-secret\n", nil, false},
		{"invalid PUB-PRIV from a file", "  authType: PUB-PRIV\n  secretFile: api-secret\n", nil, true},
		{"invalid PUB-PRIV from the environment", "  authType: PUB-PRIV\n  secretEnv: MMD_SECRET\n", map[string]string{"MMD_SECRET": secret}, true},
		{"secret written where its variable's name belongs", "  secretEnv: \"" + secret + "\"\n", nil, true},
		{"secret file named as the secret env", "  secretEnv: MMD_SECRET\n  secretFile: api-secret\n", map[string]string{"MMD_SECRET": secret}, true},
		{"secret expanded into a typed field", "  secretFile: api-secret\n  depth: ${MMD_SECRET}\n  rateMargin: ${MMD_SECRET}\n", map[string]string{"MMD_SECRET": secret}, true},
		{"secret expanded into an enumeration", "  secretFile: api-secret\n  signing: ${MMD_SECRET}\n  restURL: ${MMD_SECRET}\n", map[string]string{"MMD_SECRET": secret}, true},
		{"secret expanded into a strategy file", "  secretFile: api-secret\n", map[string]string{"MMD_SECRET": secret, "strategy": `name: ${MMD_SECRET}
type: ${MMD_SECRET}
instrument: ${MMD_SECRET}
`}, true},
		{"secret expanded into strategy params", "  secretFile: api-secret\n", map[string]string{"MMD_SECRET": secret, "strategy": strings.NewReplacer(
			"reference: mid", "reference: ${MMD_SECRET}", "levels: 3", "levels: ${MMD_SECRET}", "size: \"0.01\"", "size: x${MMD_SECRET}").Replace(goodLadder)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var strategies map[string]string
			if body, ok := tt.env["strategy"]; ok {
				strategies = map[string]string{"s.yaml": body}
			}
			path := fixture(t, "exchange:\n  environment: staging\n  apiKey: key-1\n"+tt.exchange, strategies)
			write(t, filepath.Join(filepath.Dir(path), "api-secret"), secret+"\n")
			var shown []string
			failed := false
			c, err := Load(path, testRegistry(), envOf(tt.env))
			if err != nil {
				failed = true
				shown = append(shown, err.Error(), fmt.Sprintf("%+v", err))
			} else {
				creds, err := c.Credentials(envOf(tt.env))
				if err != nil {
					failed = true
					shown = append(shown, err.Error(), fmt.Sprintf("%#v", err))
				}
				js, _ := json.Marshal(c)
				shown = append(shown, fmt.Sprintf("%v %+v %#v %s", c, c, creds, creds), string(js))
			}
			for _, s := range shown {
				if strings.Contains(s, secret) || strings.Contains(s, secret[:12]) {
					t.Fatalf("secret shown: %s", s)
				}
			}
			if failed != tt.wantErr {
				t.Errorf("failed = %v, want %v: %q", failed, tt.wantErr, shown)
			}
		})
	}
}

// TestMisplacedSecretNotEchoed: a secret pasted where its file's name belongs names no file,
// and one pasted where its variable's name belongs (and spelt like a name) names an unset
// variable; either error must say what is wrong without repeating the value.
func TestMisplacedSecretNotEchoed(t *testing.T) {
	for _, key := range []string{
		`secretFile: "TOPSECRET/9f8e7d6c5b4a+not-a-key"`,
		`secretFile: "/TOPSECRET/9f8e7d6c5b4a+not-a-key"`,
		`secretEnv: TOPSECRET_9f8e7d6c5b4a_not_a_key`,
	} {
		path := fixture(t, "exchange:\n  environment: staging\n  apiKey: k\n  "+key+"\n", nil)
		c, err := Load(path, testRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Credentials(envOf(map[string]string{credentialsDirEnv: t.TempDir()}))
		name, _, _ := strings.Cut(key, ":")
		want := "no such file (looked "
		if name == "secretEnv" {
			want = "the environment variable named here is not set or is empty"
		}
		checkProblems(t, problemsOf(t, err), []at{{"mmd.yaml", 4, "exchange." + name, want}})
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
			if strings.Contains(s, "TOPSECRET") || strings.Contains(s, "9f8e7d6c5b4a") {
				t.Errorf("%s echoed: %s", key, s)
			}
		}
	}
}

func TestCredentialsEmptyFileIsNotRead(t *testing.T) {
	// A secret file that is a directory must fail cleanly, not hang or panic.
	path := fixture(t, "exchange:\n  environment: staging\n  apiKey: k\n  secretFile: strategies\n", nil)
	c, err := Load(path, testRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Credentials(nil)
	checkProblems(t, problemsOf(t, err), []at{{"mmd.yaml", 4, "exchange.secretFile", "is a directory"}})
	if _, statErr := os.Stat(filepath.Join(filepath.Dir(path), "strategies")); statErr != nil {
		t.Fatal(statErr)
	}
}
