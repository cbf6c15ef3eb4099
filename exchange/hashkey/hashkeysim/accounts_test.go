package hashkeysim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadAccountsFile(t *testing.T) {
	v := loadVectors(t)
	path := writeFile(t, `accounts:
  - apiKey: demo-hmac
    authType: HMAC
    secret: "`+v.HMACSecret+`"
    balances: {BTC: "10", ETH: "1000", USDT: "1000000"}
  - apiKey: demo-ecdsa
    authType: PUB-PRIV
    publicKey: "`+v.PubUncompressed+`"
    balances: {BTC: "0.5"}
  - apiKey: no-balances
    authType: PUB-PRIV
    publicKey: "`+v.PubCompressed+`"
instruments:
  - {instrumentID: ETH-BTC, pricePrecision: 6, volumePrecision: 3}
  - {instrumentID: CYB-BTC, pricePrecision: 8, volumePrecision: 0, startPrice: "0.00000123"}
`)
	accounts, instruments, err := LoadAccountsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 3 || accounts[0].Secret != v.HMACSecret || accounts[1].Balances["BTC"].String() != "0.5" || accounts[2].Balances != nil {
		t.Errorf("accounts %+v", accounts)
	}
	if len(instruments) != 2 || instruments[0].StartPrice.String() != "0.031" || instruments[1].Base != "CYB" ||
		instruments[1].Quote != "BTC" || instruments[1].PricePrecision != 8 {
		t.Errorf("instruments %+v", instruments)
	}
	// The result runs.
	s, err := New(Config{Accounts: accounts, Instruments: instruments, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Balances("no-balances"); len(b) != 3 {
		t.Errorf("default balances %v", b)
	}
	s.Close()
}

func TestLoadAccountsFileErrors(t *testing.T) {
	v := loadVectors(t)
	const secret = "s3cr3t-never-printed"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown key", "accounts:\n  - apiKey: a\n    authType: HMAC\n    secret: " + secret + "\n    secrte: x\n", ":5"},
		{"wrong type", "accounts:\n  - apiKey: a\n    authType: HMAC\n    secret: " + secret + "\n    balances: [1]\n", ".yaml:5: cannot unmarshal"},
		{"bad auth type", "accounts:\n  - apiKey: a\n    authType: RSA\n    secret: " + secret + "\n", ":3: accounts[0].authType"},
		{"missing secret", "accounts:\n  - apiKey: a\n    authType: HMAC\n", ":2: accounts[0].secret"},
		{"bad public key", "accounts:\n  - apiKey: a\n    authType: PUB-PRIV\n    publicKey: AAAA\n", ":4: accounts[0].publicKey"},
		{"secret on a PUB-PRIV key", "accounts:\n  - apiKey: a\n    authType: PUB-PRIV\n    publicKey: " + v.PubCompressed + "\n    secret: " + secret + "\n", ":5: accounts[0].secret"},
		{"duplicate key", "accounts:\n  - {apiKey: a, authType: HMAC, secret: " + secret + "}\n  - {apiKey: a, authType: HMAC, secret: " + secret + "}\n", ":3: accounts[1].apiKey"},
		{"bad balance", "accounts:\n  - apiKey: a\n    authType: HMAC\n    secret: " + secret + "\n    balances:\n      BTC: lots\n", ":6: accounts[0].balances.BTC"},
		{"no accounts", "instruments: []\n", "at least one account"},
		{"empty", "", "empty accounts file"},
		{"syntax", "accounts: [\n", ".yaml:1: did not find"},
		{"instrument without start price", "accounts:\n  - {apiKey: a, authType: HMAC, secret: " + secret + "}\ninstruments:\n  - {instrumentID: XYZ-BTC, pricePrecision: 6, volumePrecision: 3}\n", ":4: instruments[0].startPrice"},
		{"instrument without precision", "accounts:\n  - {apiKey: a, authType: HMAC, secret: " + secret + "}\ninstruments:\n  - {instrumentID: ETH-BTC, volumePrecision: 3}\n", "instruments[0].pricePrecision"},
		{"instrument bad id", "accounts:\n  - {apiKey: a, authType: HMAC, secret: " + secret + "}\ninstruments:\n  - {instrumentID: ETHBTC, pricePrecision: 6, volumePrecision: 3, startPrice: '1'}\n", "BASE-QUOTE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.text)
			_, _, err := LoadAccountsFile(path)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should name the file and contain %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error quotes the secret: %q", msg)
			}
		})
	}
	if _, _, err := LoadAccountsFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestNewConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"signing":              {Signing: "v9"},
		"duplicate account":    {Accounts: []Account{{APIKey: "a", AuthType: AuthHMAC, Secret: "x"}, {APIKey: "a", AuthType: AuthHMAC, Secret: "y"}}},
		"empty key":            {Accounts: []Account{{AuthType: AuthHMAC, Secret: "x"}}},
		"auth type":            {Accounts: []Account{{APIKey: "a", AuthType: "RSA"}}},
		"negative balance":     {Accounts: []Account{{APIKey: "a", AuthType: AuthHMAC, Secret: "x", Balances: map[string]decimal.Decimal{"BTC": dec("-1")}}}},
		"duplicate instrument": {Instruments: append(DefaultInstruments(), DefaultInstruments()[0])},
		"start price":          {Instruments: []InstrumentSpec{{Instrument: DefaultInstruments()[0].Instrument}}},
		"negative volatility":  {Volatility: dec("-1")},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	acc := s.Accounts()
	if len(acc) != 1 || !strings.HasPrefix(acc[0].APIKey, "demo-") || acc[0].AuthType != AuthHMAC || len(acc[0].Secret) < 40 {
		t.Errorf("demo account %+v", acc)
	}
	s.Close()
}
