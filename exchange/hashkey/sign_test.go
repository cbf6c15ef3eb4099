package hashkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

type signingVector struct {
	Name      string `json:"name"`
	Scheme    Scheme `json:"scheme"`
	AuthType  string `json:"auth_type"`
	Kind      string `json:"kind"`
	Timestamp string `json:"timestamp"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Body      string `json:"body"`
	Message   string `json:"message"`
	Secret    string `json:"secret"`
	SHA256Hex string `json:"sha256_hex"`
	Signature string `json:"signature"`
}

type signingFile struct {
	HMACSecret      string          `json:"hmac_secret"`
	PrivateKeyB64   string          `json:"pubpriv_private_key_b64"`
	PublicKeyCompB6 string          `json:"pubpriv_public_key_compressed_b64"`
	SpecExamples    []signingVector `json:"spec_examples"`
	Vectors         []signingVector `json:"vectors"`
}

func loadSigning(t testing.TB) signingFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/signing.json")
	if err != nil {
		t.Fatal(err)
	}
	var f signingFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 || len(f.SpecExamples) == 0 {
		t.Fatal("signing.json holds no vectors")
	}
	return f
}

// signerFor builds the signer a vector was made with: its own secret when it has one (the
// spec examples), else the file's HMAC secret or private key.
func signerFor(t testing.TB, f signingFile, v signingVector) *Signer {
	t.Helper()
	secret := v.Secret
	if secret == "" {
		if AuthType(v.AuthType) == AuthHMAC {
			secret = f.HMACSecret
		} else {
			secret = f.PrivateKeyB64
		}
	}
	s, err := NewSigner(Credentials{APIKey: "key-1", AuthType: AuthType(v.AuthType), Secret: NewSecret(secret), Scheme: v.Scheme})
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func (v signingVector) sign(s *Signer) (string, error) {
	if v.Kind == "ws" {
		return s.SignWSLogin()
	}
	return s.SignREST(v.Timestamp, v.Method, v.Path, []byte(v.Body))
}

func TestSigningVectors(t *testing.T) {
	f := loadSigning(t)
	all := append(append([]signingVector{}, f.Vectors...), f.SpecExamples...)
	for _, v := range all {
		t.Run(v.Name+"/"+string(v.Scheme)+"/"+v.AuthType+"/"+v.Kind, func(t *testing.T) {
			s := signerFor(t, f, v)
			if v.Kind == "rest" && v.Timestamp != "" {
				if got := string(RESTMessage(v.Timestamp, v.Method, v.Path, []byte(v.Body))); got != v.Message {
					t.Fatalf("RESTMessage = %q, want %q", got, v.Message)
				}
			}
			if v.SHA256Hex != "" {
				sum := sha256.Sum256([]byte(v.Message))
				if got := hex.EncodeToString(sum[:]); got != v.SHA256Hex {
					t.Fatalf("sha256 hex of message = %s, want %s", got, v.SHA256Hex)
				}
			}
			var got string
			var err error
			if v.Kind == "rest" && v.Timestamp == "" {
				// A spec example gives only the message; split it back into its parts.
				got, err = signRawMessage(s, v.Message)
			} else {
				got, err = v.sign(s)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Signature {
				t.Fatalf("signature = %s, want %s", got, v.Signature)
			}
			if AuthType(v.AuthType) == AuthPubPriv {
				checkRecoverable(t, f, s, v, got)
			}
			// Signing twice gives the same text (deterministic, scratch state reset).
			again, _ := v.sign(s)
			if v.Kind == "rest" && v.Timestamp == "" {
				again, _ = signRawMessage(s, v.Message)
			}
			if again != got {
				t.Fatalf("second signature %s differs from first %s", again, got)
			}
		})
	}
}

// signRawMessage signs a spec example's message "1539324192349GET/v1/account/assets".
func signRawMessage(s *Signer, msg string) (string, error) {
	i := strings.IndexAny(msg, "GP")
	ts, rest := msg[:i], msg[i:]
	method := "GET"
	if strings.HasPrefix(rest, "POST") {
		method = "POST"
	}
	return s.SignREST(ts, method, rest[len(method):], nil)
}

// checkRecoverable recovers the public key from a PUB-PRIV signature and compares it with the
// published one: v, r and s are not only equal to the vector but mean what they should.
func checkRecoverable(t *testing.T, f signingFile, s *Signer, v signingVector, sig string) {
	t.Helper()
	var parsed struct {
		R string `json:"r"`
		S string `json:"s"`
		V int    `json:"v"`
	}
	if err := json.Unmarshal([]byte(sig), &parsed); err != nil {
		t.Fatalf("signature is not JSON: %v", err)
	}
	r, _ := base64.StdEncoding.DecodeString(parsed.R)
	ss, _ := base64.StdEncoding.DecodeString(parsed.S)
	if len(r) != 32 || len(ss) != 32 || (parsed.V != 27 && parsed.V != 28) {
		t.Fatalf("signature shape: |r|=%d |s|=%d v=%d", len(r), len(ss), parsed.V)
	}
	msg := []byte(v.Message)
	if v.Kind == "rest" && v.Scheme == SchemeV42 {
		sum := sha256.Sum256(msg)
		msg = []byte(hex.EncodeToString(sum[:]))
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(msg)
	compact := append([]byte{byte(parsed.V)}, append(r, ss...)...)
	pub, _, err := ecdsa.RecoverCompact(compact, h.Sum(nil))
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if got := base64.StdEncoding.EncodeToString(pub.SerializeCompressed()); got != f.PublicKeyCompB6 {
		t.Fatalf("recovered public key %s, want %s", got, f.PublicKeyCompB6)
	}
}

func TestSignatureChangesWithInput(t *testing.T) {
	f := loadSigning(t)
	var base signingVector
	for _, v := range f.Vectors {
		if v.Name == "post-insert" {
			base = v
			break
		}
	}
	for _, auth := range []AuthType{AuthHMAC, AuthPubPriv} {
		for _, scheme := range []Scheme{SchemeV43, SchemeV42} {
			v := base
			v.AuthType, v.Scheme = string(auth), scheme
			s := signerFor(t, f, v)
			want, err := v.sign(s)
			if err != nil {
				t.Fatal(err)
			}
			name := string(auth) + "/" + string(scheme)

			body := []byte(v.Body)
			body[len(body)-3] ^= 1
			if got, _ := s.SignREST(v.Timestamp, v.Method, v.Path, body); got == want {
				t.Errorf("%s: body byte changed, signature did not", name)
			}
			ts := []byte(v.Timestamp)
			ts[len(ts)-1] ^= 1
			if got, _ := s.SignREST(string(ts), v.Method, v.Path, []byte(v.Body)); got == want {
				t.Errorf("%s: timestamp changed, signature did not", name)
			}
			if got, _ := s.SignREST(v.Timestamp, v.Method, "/v1/order/insers", []byte(v.Body)); got == want {
				t.Errorf("%s: path changed, signature did not", name)
			}
			key := []byte(f.HMACSecret)
			if auth == AuthPubPriv {
				raw, _ := base64.StdEncoding.DecodeString(f.PrivateKeyB64)
				raw[31] ^= 1
				key = []byte(base64.StdEncoding.EncodeToString(raw))
			} else {
				key[0] ^= 1
			}
			other, err := NewSigner(Credentials{APIKey: "k", AuthType: auth, Secret: NewSecret(string(key)), Scheme: scheme})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := v.sign(other); got == want {
				t.Errorf("%s: key changed, signature did not", name)
			}
		}
	}
}

func TestRESTMessage(t *testing.T) {
	tests := []struct {
		ts, method, target, body, want string
	}{
		{"1542104001056", "GET", "/v1/info/time", "", "1542104001056GET/v1/info/time"},
		{"1542104001056", "get", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "", "1542104001056GET/v1/marketData/getLevel2"},
		{"1542104001056", "GET", "/v1/referenceData/instrument?instrumentID=ETH-BTC&instrumentID=CYB-BTC", "", "1542104001056GET/v1/referenceData/instrument"},
		{"1", "POST", "/v1/order/cancelBySysID", `{"orderSysID":"7"}`, `1POST/v1/order/cancelBySysID{"orderSysID":"7"}`},
		{"1", "POST", "/v1/order/getOrder?", `{}`, `1POST/v1/order/getOrder{}`},
	}
	for _, tt := range tests {
		if got := string(RESTMessage(tt.ts, tt.method, tt.target, []byte(tt.body))); got != tt.want {
			t.Errorf("RESTMessage(%q, %q, %q, %q) = %q, want %q", tt.ts, tt.method, tt.target, tt.body, got, tt.want)
		}
	}
}

func TestSignRESTQueryIgnored(t *testing.T) {
	f := loadSigning(t)
	s := signerFor(t, f, signingVector{AuthType: string(AuthHMAC)})
	a, _ := s.SignREST("1", "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", nil)
	b, _ := s.SignREST("1", "GET", "/v1/marketData/getLevel2", nil)
	if a != b {
		t.Fatalf("query changed the signature: %s vs %s", a, b)
	}
}

func TestSignRESTRejectsBadInput(t *testing.T) {
	f := loadSigning(t)
	s := signerFor(t, f, signingVector{AuthType: string(AuthHMAC)})
	if _, err := s.SignREST("", "GET", "/v1/info/time", nil); err == nil {
		t.Error("empty timestamp accepted")
	}
	if _, err := s.SignREST("1", "GET", "/info/time", nil); err == nil {
		t.Error("target without /v1/ accepted")
	}
	zero := new(Signer)
	if _, err := zero.SignWSLogin(); err == nil {
		t.Error("zero Signer signed a WS login")
	}
	if _, err := zero.SignREST("1", "GET", "/v1/info/time", nil); err == nil {
		t.Error("zero Signer signed a request")
	}
}

func TestNewSignerValidates(t *testing.T) {
	f := loadSigning(t)
	const leak = "TOPSECRETVALUE"
	tests := []struct {
		name string
		c    Credentials
		ok   bool
	}{
		{"hmac", Credentials{APIKey: "k", AuthType: AuthHMAC, Secret: NewSecret(f.HMACSecret)}, true},
		{"hmac v4.2", Credentials{APIKey: "k", AuthType: AuthHMAC, Secret: NewSecret(f.HMACSecret), Scheme: SchemeV42}, true},
		{"pubpriv", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(f.PrivateKeyB64)}, true},
		{"pubpriv surrounded by newline", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(f.PrivateKeyB64 + "\n")}, true},
		{"pubpriv unpadded", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(strings.TrimRight(f.PrivateKeyB64, "="))}, true},
		{"no api key", Credentials{AuthType: AuthHMAC, Secret: NewSecret(leak)}, false},
		{"hmac empty secret", Credentials{APIKey: "k", AuthType: AuthHMAC}, false},
		{"unknown auth", Credentials{APIKey: "k", AuthType: "RSA", Secret: NewSecret(leak)}, false},
		{"empty auth", Credentials{APIKey: "k", Secret: NewSecret(leak)}, false},
		{"unknown scheme", Credentials{APIKey: "k", AuthType: AuthHMAC, Secret: NewSecret(leak), Scheme: "v5"}, false},
		{"pubpriv empty", Credentials{APIKey: "k", AuthType: AuthPubPriv}, false},
		{"pubpriv not base64", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(leak + "!!")}, false},
		{"pubpriv 31 bytes", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 31)))}, false},
		{"pubpriv 33 bytes", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 33)))}, false},
		{"pubpriv zero", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(base64.StdEncoding.EncodeToString(make([]byte, 32)))}, false},
		{"pubpriv above order", Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.c)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if s.APIKey() != tt.c.APIKey || s.AuthType() != tt.c.AuthType {
					t.Fatalf("signer reports key %q auth %q", s.APIKey(), s.AuthType())
				}
				if tt.c.Scheme == "" && s.Scheme() != SchemeV43 {
					t.Fatalf("default scheme %q, want %q", s.Scheme(), SchemeV43)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if sec := tt.c.Secret.Reveal(); sec != "" && strings.Contains(err.Error(), strings.TrimSpace(sec)) {
				t.Fatalf("error shows the secret: %v", err)
			}
			if strings.Contains(err.Error(), leak) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}

func TestSignerConcurrent(t *testing.T) {
	f := loadSigning(t)
	for _, v := range f.Vectors {
		if v.Name != "post-insert" {
			continue
		}
		s := signerFor(t, f, v)
		done := make(chan error, 8)
		for range 8 {
			go func() {
				for range 50 {
					got, err := v.sign(s)
					if err == nil && got != v.Signature {
						err = &APIError{Op: "concurrent sign mismatch"}
					}
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSignerDoesNotPrintKeyMaterial(t *testing.T) {
	f := loadSigning(t)
	for _, c := range []Credentials{
		{APIKey: "k", AuthType: AuthHMAC, Secret: NewSecret(f.HMACSecret)},
		{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(f.PrivateKeyB64)},
	} {
		s, err := NewSigner(c)
		if err != nil {
			t.Fatal(err)
		}
		holder := struct {
			S *Signer
			s *Signer
		}{s, s}
		for _, out := range []string{sprintAll(s), sprintAll(holder)} {
			if strings.Contains(out, c.Secret.Reveal()) {
				t.Fatalf("signer printed key material: %s", out)
			}
		}
	}
}

func benchSigner(b *testing.B, auth AuthType) {
	f := loadSigning(b)
	var v signingVector
	for _, x := range f.Vectors {
		if x.Name == "post-insert" && AuthType(x.AuthType) == auth && x.Scheme == SchemeV43 {
			v = x
		}
	}
	s := signerFor(b, f, v)
	body := []byte(v.Body)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.SignREST(v.Timestamp, v.Method, v.Path, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignHMAC(b *testing.B)    { benchSigner(b, AuthHMAC) }
func BenchmarkSignPubPriv(b *testing.B) { benchSigner(b, AuthPubPriv) }
