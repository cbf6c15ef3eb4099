package hashkeysim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// accountsFile is the YAML accounts file:
//
//	accounts:
//	  - apiKey: demo-hmac
//	    authType: HMAC
//	    secret: "…"
//	    balances: {BTC: "10", ETH: "1000", USDT: "1000000"}
//	  - apiKey: demo-ecdsa
//	    authType: PUB-PRIV
//	    publicKey: "<base64 secp256k1 public key, compressed or uncompressed>"
//	instruments:            # optional
//	  - {instrumentID: ETH-BTC, pricePrecision: 6, volumePrecision: 3, startPrice: "0.031"}
type accountsFile struct {
	Accounts    []accountYAML    `yaml:"accounts"`
	Instruments []instrumentYAML `yaml:"instruments"`
}

type accountYAML struct {
	APIKey    string            `yaml:"apiKey"`
	AuthType  string            `yaml:"authType"`
	Secret    string            `yaml:"secret"`
	PublicKey string            `yaml:"publicKey"`
	Balances  map[string]string `yaml:"balances"`
}

type instrumentYAML struct {
	InstrumentID    string `yaml:"instrumentID"`
	PricePrecision  *int32 `yaml:"pricePrecision"`
	VolumePrecision *int32 `yaml:"volumePrecision"`
	TradingAsset    string `yaml:"tradingAsset"`  // quote; derived from the ID if absent
	TradingTarget   string `yaml:"tradingTarget"` // base; derived from the ID if absent
	StartPrice      string `yaml:"startPrice"`    // optional for the default instruments
}

// LoadAccountsFile reads an accounts file strictly (an unknown key is an error) and checks
// it; every error names the file and the line. Instruments are nil when the file lists none.
// Errors never quote a secret.
func LoadAccountsFile(path string) ([]Account, []InstrumentSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("accounts file: %w", err)
	}
	var f accountsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s: empty accounts file", path)
		}
		return nil, nil, yamlError(path, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, yamlError(path, err)
	}
	lines := nodeLines{root: &root}
	if len(f.Accounts) == 0 {
		return nil, nil, fmt.Errorf("%s:%d: accounts: at least one account is needed", path, lines.at("accounts", -1, ""))
	}
	fail := func(section string, i int, key, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s[%d].%s: %s", path, lines.at(section, i, key), section, i, key, fmt.Sprintf(format, args...))
	}
	seen := make(map[string]bool)
	accounts := make([]Account, 0, len(f.Accounts))
	for i, y := range f.Accounts {
		if y.APIKey == "" {
			return nil, nil, fail("accounts", i, "apiKey", "missing")
		}
		if seen[y.APIKey] {
			return nil, nil, fail("accounts", i, "apiKey", "%s listed twice", y.APIKey)
		}
		seen[y.APIKey] = true
		a := Account{APIKey: y.APIKey, AuthType: y.AuthType, Secret: y.Secret, PublicKey: y.PublicKey}
		switch y.AuthType {
		case AuthHMAC:
			if y.Secret == "" {
				return nil, nil, fail("accounts", i, "secret", "missing for an HMAC key")
			}
			if y.PublicKey != "" {
				return nil, nil, fail("accounts", i, "publicKey", "not used by an HMAC key")
			}
		case AuthPubPriv:
			if y.PublicKey == "" {
				return nil, nil, fail("accounts", i, "publicKey", "missing for a PUB-PRIV key")
			}
			if y.Secret != "" {
				return nil, nil, fail("accounts", i, "secret", "not used by a PUB-PRIV key (the exchange holds only the public key)")
			}
			if _, err := parsePublicKey(y.PublicKey); err != nil {
				return nil, nil, fail("accounts", i, "publicKey", "%v", err)
			}
		default:
			return nil, nil, fail("accounts", i, "authType", "%q: want HMAC or PUB-PRIV", y.AuthType)
		}
		if y.Balances != nil {
			a.Balances = make(map[string]decimal.Decimal, len(y.Balances))
			for asset, text := range y.Balances {
				d, err := decimal.NewFromString(text)
				if err != nil || d.IsNegative() {
					return nil, nil, fail("accounts", i, "balances."+asset, "%q is not a non-negative decimal", text)
				}
				a.Balances[asset] = d
			}
		}
		accounts = append(accounts, a)
	}
	var specs []InstrumentSpec
	defaults := make(map[string]InstrumentSpec)
	for _, d := range DefaultInstruments() {
		defaults[d.ID] = d
	}
	for i, y := range f.Instruments {
		if y.InstrumentID == "" {
			return nil, nil, fail("instruments", i, "instrumentID", "missing")
		}
		def, known := defaults[y.InstrumentID]
		spec := InstrumentSpec{Instrument: exchange.Instrument{ID: y.InstrumentID, Base: y.TradingTarget, Quote: y.TradingAsset}}
		if base, quote, ok := strings.Cut(y.InstrumentID, "-"); ok {
			if spec.Base == "" {
				spec.Base = base
			}
			if spec.Quote == "" {
				spec.Quote = quote
			}
		}
		if y.PricePrecision == nil {
			return nil, nil, fail("instruments", i, "pricePrecision", "missing")
		}
		if y.VolumePrecision == nil {
			return nil, nil, fail("instruments", i, "volumePrecision", "missing")
		}
		spec.PricePrecision, spec.VolumePrecision = *y.PricePrecision, *y.VolumePrecision
		switch {
		case y.StartPrice != "":
			d, err := decimal.NewFromString(y.StartPrice)
			if err != nil || !d.IsPositive() {
				return nil, nil, fail("instruments", i, "startPrice", "%q is not a positive decimal", y.StartPrice)
			}
			spec.StartPrice = d
		case known:
			spec.StartPrice = def.StartPrice
		default:
			return nil, nil, fail("instruments", i, "startPrice", "missing (needed for an instrument without a default)")
		}
		if _, err := newInstrument(i, spec, 0, decimal.NewFromInt(1)); err != nil {
			return nil, nil, fail("instruments", i, "instrumentID", "%v", err)
		}
		specs = append(specs, spec)
	}
	return accounts, specs, nil
}

// nodeLines finds line numbers in the parsed document for error messages.
type nodeLines struct {
	root *yaml.Node
}

// at returns the line of section[i].key, falling back to the nearest enclosing node
// (i < 0: the section itself; key "": the list item).
func (n nodeLines) at(section string, i int, key string) int {
	doc := n.root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	_, sec := mappingEntry(doc, section)
	if sec == nil {
		return doc.Line
	}
	if i < 0 || sec.Kind != yaml.SequenceNode || i >= len(sec.Content) {
		return sec.Line
	}
	item := sec.Content[i]
	if key == "" {
		return item.Line
	}
	name, sub, _ := strings.Cut(key, ".")
	k, v := mappingEntry(item, name)
	if k == nil {
		return item.Line
	}
	if sub != "" {
		if sk, _ := mappingEntry(v, sub); sk != nil {
			return sk.Line
		}
	}
	return k.Line
}

// mappingEntry returns the key and value nodes of key in mapping m, or nils.
func mappingEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return m.Content[j], m.Content[j+1]
		}
	}
	return nil, nil
}

// yamlError rewrites yaml.v3's "line N: …" messages as "path:N: …", one per problem.
func yamlError(path string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		var line int
		if _, scanErr := fmt.Sscanf(m, "line %d:", &line); scanErr == nil {
			_, rest, _ := strings.Cut(m, ": ")
			if j := strings.Index(rest, " in type "); j >= 0 { // Go type names mean nothing to the reader
				rest = rest[:j]
			}
			out[i] = fmt.Sprintf("%s:%d: %s", path, line, rest)
		} else {
			out[i] = path + ": " + m
		}
	}
	return errors.New(strings.Join(out, "\n"))
}
