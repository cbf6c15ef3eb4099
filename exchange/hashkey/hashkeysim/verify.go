package hashkeysim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// This file checks signatures from the verifying side, on its own: it shares no code with
// the adapter's signer, so a bug in one cannot hide the same bug in the other.

// Auth types as they appear in the AUTH-TYPE header and the WebSocket login.
const (
	AuthHMAC    = "HMAC"
	AuthPubPriv = "PUB-PRIV"
)

// wsLoginMessage is what a private WebSocket login signs, in every revision without pre-hash.
const wsLoginMessage = "WSS/APITradeWS/v1/messages"

// revision is one signing rule: v4.3 signs the message itself, v4.2 the lowercase hex
// SHA-256 of the message.
type revision uint8

const (
	revV43 revision = 1 << iota
	revV42
)

func (r revision) String() string {
	switch r {
	case revV43:
		return "v4.3"
	case revV42:
		return "v4.2"
	}
	return "any"
}

// parseSigning maps the Config.Signing value to the set of accepted revisions.
func parseSigning(s string) (revision, error) {
	switch s {
	case "", "v4.3":
		return revV43, nil
	case "v4.2":
		return revV42, nil
	case "any":
		return revV43 | revV42, nil
	}
	return 0, fmt.Errorf("signing %q: want v4.3, v4.2 or any", s)
}

// verifier checks signatures for one account.
type verifier struct {
	authType string
	secret   []byte               // HMAC: the secret string's own bytes
	pub      *secp256k1.PublicKey // PUB-PRIV
}

func newVerifier(a Account) (verifier, error) {
	switch a.AuthType {
	case AuthHMAC:
		if a.Secret == "" {
			return verifier{}, errors.New("HMAC account without a secret")
		}
		return verifier{authType: AuthHMAC, secret: []byte(a.Secret)}, nil
	case AuthPubPriv:
		pub, err := parsePublicKey(a.PublicKey)
		if err != nil {
			return verifier{}, err
		}
		return verifier{authType: AuthPubPriv, pub: pub}, nil
	}
	return verifier{}, fmt.Errorf("authType %q: want HMAC or PUB-PRIV", a.AuthType)
}

// parsePublicKey reads a base64 secp256k1 public key, compressed (33 bytes) or not (65).
func parsePublicKey(b64 string) (*secp256k1.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("public key: not base64: %w", err)
	}
	pub, err := secp256k1.ParsePubKey(raw)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pub, nil
}

// verify reports whether sig signs message under one of the revisions in revs. A WebSocket
// login passes revV43 alone: it is never pre-hashed.
func (v verifier) verify(message []byte, sig string, revs revision) (revision, bool) {
	for _, r := range [...]revision{revV43, revV42} {
		if revs&r == 0 {
			continue
		}
		m := message
		if r == revV42 {
			sum := sha256.Sum256(message)
			m = []byte(hex.EncodeToString(sum[:]))
		}
		if v.verifyOne(m, sig) {
			return r, true
		}
	}
	return 0, false
}

func (v verifier) verifyOne(message []byte, sig string) bool {
	if v.authType == AuthHMAC {
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, v.secret)
		mac.Write(message)
		return hmac.Equal(got, mac.Sum(nil))
	}
	compact, err := parseSignatureJSON(sig)
	if err != nil {
		return false
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(message)
	pub, _, err := ecdsa.RecoverCompact(compact[:], h.Sum(nil))
	if err != nil {
		return false
	}
	return pub.IsEqual(v.pub)
}

// parseSignatureJSON reads the PUB-PRIV header value {"r":"<b64>","s":"<b64>","v":27} into
// the 65-byte compact form [27+recid, r, s]. The text is parsed, never compared: clients
// write it with or without spaces and in any key order. v may be a number or a string and
// either 27/28 or the bare recovery id 0/1.
func parseSignatureJSON(sig string) ([65]byte, error) {
	var out [65]byte
	var raw struct {
		R string          `json:"r"`
		S string          `json:"s"`
		V json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal([]byte(sig), &raw); err != nil {
		return out, fmt.Errorf("signature JSON: %w", err)
	}
	vText := bytes.Trim(raw.V, `"`)
	v, err := strconv.Atoi(string(vText))
	if err != nil || len(vText) > 3 {
		return out, fmt.Errorf("signature JSON: v %q is not a small integer", raw.V)
	}
	switch {
	case v == 0 || v == 1:
		v += 27
	case v == 27 || v == 28:
	default:
		return out, fmt.Errorf("signature JSON: v %d out of range", v)
	}
	out[0] = byte(v)
	if err := decodeScalar(out[1:33], raw.R); err != nil {
		return out, fmt.Errorf("signature JSON: r: %w", err)
	}
	if err := decodeScalar(out[33:65], raw.S); err != nil {
		return out, fmt.Errorf("signature JSON: s: %w", err)
	}
	return out, nil
}

// decodeScalar base64-decodes a 32-byte big-endian scalar into dst, left-padding a shorter
// value (some encoders drop leading zero bytes).
func decodeScalar(dst []byte, b64 string) error {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return fmt.Errorf("not base64: %w", err)
		}
	}
	if len(raw) == 0 || len(raw) > len(dst) {
		return fmt.Errorf("%d bytes, want 32", len(raw))
	}
	copy(dst[len(dst)-len(raw):], raw)
	return nil
}

// restMessage builds the signed message timestamp + METHOD + path + body, where path is
// "/v1/…" and query, when not empty, is appended as "?query" (the form some third-party
// clients sign).
func restMessage(timestamp, method, path, query string, body []byte) []byte {
	m := make([]byte, 0, len(timestamp)+len(method)+len(path)+1+len(query)+len(body))
	m = append(m, timestamp...)
	m = append(m, method...)
	m = append(m, path...)
	if query != "" {
		m = append(m, '?')
		m = append(m, query...)
	}
	return append(m, body...)
}
