package hashkeysim

import (
	"strings"
	"testing"
)

// TestVerifierVectors checks the verifier on its own against every signing vector: each
// vector verifies under its own revision (and "any"), not under the other one, and not with
// one byte of the message changed. PUB-PRIV vectors verify against both the compressed and
// the uncompressed public key.
func TestVerifierVectors(t *testing.T) {
	v := loadVectors(t)
	verifiers := map[string][]verifier{}
	for _, a := range []Account{
		{AuthType: AuthHMAC, Secret: v.HMACSecret},
		{AuthType: AuthPubPriv, PublicKey: v.PubCompressed},
		{AuthType: AuthPubPriv, PublicKey: v.PubUncompressed},
	} {
		ver, err := newVerifier(a)
		if err != nil {
			t.Fatalf("verifier %s: %v", a.AuthType, err)
		}
		verifiers[a.AuthType] = append(verifiers[a.AuthType], ver)
	}
	if len(v.Vectors) < 20 {
		t.Fatalf("only %d vectors", len(v.Vectors))
	}
	for _, vec := range v.Vectors {
		t.Run(vec.Name+"/"+vec.Scheme+"/"+vec.AuthType, func(t *testing.T) {
			own, other := revV43, revV42
			if vec.Scheme == "v4.2" {
				own, other = revV42, revV43
			}
			if vec.Kind == "ws" {
				own = revV43 // the login string is never pre-hashed
			}
			msg := []byte(vec.Message)
			if vec.Kind == "rest" {
				// The vector's message must be the rule applied to its parts.
				path, _, _ := strings.Cut(vec.Path, "?")
				if got := string(restMessage(vec.Timestamp, vec.Method, path, "", []byte(vec.Body))); got != vec.Message {
					t.Fatalf("message %q, vector says %q", got, vec.Message)
				}
			}
			for i, ver := range verifiers[vec.AuthType] {
				if rev, ok := ver.verify(msg, vec.Signature, own); !ok || rev != own {
					t.Errorf("key %d: own revision %v rejected", i, own)
				}
				if _, ok := ver.verify(msg, vec.Signature, revV43|revV42); !ok {
					t.Errorf("key %d: rejected under any", i)
				}
				if vec.Kind == "rest" {
					if _, ok := ver.verify(msg, vec.Signature, other); ok {
						t.Errorf("key %d: accepted under the other revision %v", i, other)
					}
				}
				bad := []byte(vec.Message)
				bad[len(bad)/2] ^= 1
				if _, ok := ver.verify(bad, vec.Signature, revV43|revV42); ok {
					t.Errorf("key %d: accepted a changed message", i)
				}
			}
		})
	}
}

// TestVerifierSpecExamples checks the 4.2 HMAC examples copied from the exchange's
// specification, which use their own secret.
func TestVerifierSpecExamples(t *testing.T) {
	v := loadVectors(t)
	for _, ex := range v.SpecExamples {
		ver, err := newVerifier(Account{AuthType: AuthHMAC, Secret: ex.Secret})
		if err != nil {
			t.Fatal(err)
		}
		revs := revV42
		if ex.Kind == "ws" {
			revs = revV43 // never pre-hashed
		}
		if _, ok := ver.verify([]byte(ex.Message), ex.Signature, revs); !ok {
			t.Errorf("spec example %s %q rejected", ex.Kind, ex.Message)
		}
	}
}

// TestParseSignatureJSON: the PUB-PRIV header is parsed, never compared as text.
func TestParseSignatureJSON(t *testing.T) {
	const r = "SF8FIxqnzYdFTBu0AYPNHWUGzmtYOSTfy7irWAaTAtc="
	const s = "N3rVXIBlejVm7qa0xK/Rly5EGJfJhZ47gcGK9g1gL0o="
	canonical, err := parseSignatureJSON(`{"r":"` + r + `","s":"` + s + `","v":27}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"spaces", `{"r": "` + r + `", "s": "` + s + `", "v": 27}`, true},
		{"key order", `{"v":27,"s":"` + s + `","r":"` + r + `"}`, true},
		{"newlines", "{\n \"r\": \"" + r + "\",\n \"s\": \"" + s + "\",\n \"v\": 27\n}", true},
		{"v as string", `{"r":"` + r + `","s":"` + s + `","v":"27"}`, true},
		{"v as recovery id", `{"r":"` + r + `","s":"` + s + `","v":0}`, true},
		{"v out of range", `{"r":"` + r + `","s":"` + s + `","v":35}`, false},
		{"v not a number", `{"r":"` + r + `","s":"` + s + `","v":"x"}`, false},
		{"r not base64", `{"r":"!!","s":"` + s + `","v":27}`, false},
		{"r too long", `{"r":"` + r + r + `","s":"` + s + `","v":27}`, false},
		{"missing s", `{"r":"` + r + `","v":27}`, false},
		{"not JSON", `r=` + r, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSignatureJSON(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && got != canonical {
				t.Errorf("parsed %x, want %x", got, canonical)
			}
		})
	}
}

func TestParseSigning(t *testing.T) {
	for in, want := range map[string]revision{"": revV43, "v4.3": revV43, "v4.2": revV42, "any": revV43 | revV42} {
		if got, err := parseSigning(in); err != nil || got != want {
			t.Errorf("parseSigning(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseSigning("v5"); err == nil {
		t.Error("parseSigning(v5) accepted")
	}
}

// FuzzParseSignatureJSON: a client's PUB-PRIV header never panics the parser.
func FuzzParseSignatureJSON(f *testing.F) {
	v := loadVectors(f)
	for _, vec := range v.Vectors {
		if vec.AuthType == AuthPubPriv {
			f.Add(vec.Signature)
		}
	}
	f.Add(`{"r": "", "s": "", "v": 1}`)
	f.Add(`{"v":"027"}`)
	f.Add(`[]`)
	ver, err := newVerifier(Account{AuthType: AuthPubPriv, PublicKey: v.PubCompressed})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig string) {
		if c, err := parseSignatureJSON(sig); err == nil && c[0] != 27 && c[0] != 28 {
			t.Fatalf("recovery byte %d", c[0])
		}
		ver.verify([]byte("1542104001056GET/v1/info/time"), sig, revV43|revV42)
	})
}
