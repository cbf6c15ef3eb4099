package hashkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// AuthType is the kind of API key, sent as the AUTH-TYPE header and as the third element of
// the private WebSocket login.
type AuthType string

const (
	AuthHMAC    AuthType = "HMAC"     // the exchange issued a secret string
	AuthPubPriv AuthType = "PUB-PRIV" // the user holds a secp256k1 private key
)

// Scheme is the revision of the REST signing rule (reference §2, "Two revisions").
type Scheme string

const (
	// SchemeV43 signs the message itself, as the exchange's 4.3.0 sample clients do. Default.
	SchemeV43 Scheme = "v4.3"
	// SchemeV42 signs the lowercase hex SHA-256 of the message, as spec revision 4.2 says.
	SchemeV42 Scheme = "v4.2"
)

// wsLoginMessage is what the private WebSocket login signs, in every scheme, never pre-hashed.
const wsLoginMessage = "WSS/APITradeWS/v1/messages"

// Credentials are one API key as configured. Secret is the HMAC secret string (used as
// written) or, for PUB-PRIV, the base64 of the 32-byte secp256k1 private key. An empty Scheme
// means SchemeV43.
type Credentials struct {
	APIKey   string
	AuthType AuthType
	Secret   Secret
	Scheme   Scheme
}

// RESTMessage returns the bytes a REST request signs: timestamp + METHOD + path + body.
//
// target is the request target exactly as appended to the base URL (…/APITrade), so it
// begins with the version: "/v1/marketData/getLevel2?instrumentID=ETH-BTC". method is
// upper-cased. body is the exact bytes sent (nil for GET).
//
// The query string is dropped here, and only here. The spec defines the message as
// "timestamp + method + version + path + body" and never mentions the query; the exchange's
// own Java SDK and a client that collected production data both sign GETs without it
// (hashkey-pro-api.md §2). If a connector test ever answers 1000 only for GETs that carry a
// query, this is the line to look at.
func RESTMessage(timestamp, method, target string, body []byte) []byte {
	return appendRESTMessage(make([]byte, 0, len(timestamp)+len(method)+len(target)+len(body)),
		timestamp, method, target, body)
}

func appendRESTMessage(dst []byte, timestamp, method, target string, body []byte) []byte {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i] // the no-query rule: see RESTMessage
	}
	dst = append(dst, timestamp...)
	for i := 0; i < len(method); i++ {
		c := method[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, target...)
	return append(dst, body...)
}

// Signer signs REST requests and the private WebSocket login for one API key. It is safe
// for concurrent use. It never exposes the key material it holds, and neither do its errors.
type Signer struct {
	apiKey string
	auth   AuthType
	scheme Scheme
	priv   *secp256k1.PrivateKey // PUB-PRIV only
	ws     string                // the WS login signature: deterministic, so computed once
	// scratch holds *signScratch: per-call state (a keyed HMAC, hashers, buffers) reused so
	// that the hot path allocates only the returned string.
	scratch sync.Pool
}

type signScratch struct {
	mac    hash.Hash // HMAC-SHA256 keyed with the secret; Reset returns it to the keyed state
	keccak hash.Hash // Keccak-256 for PUB-PRIV
	sha    hash.Hash // SHA-256 for the v4.2 pre-hash
	msg    []byte
	hex    [2 * sha256.Size]byte
	sum    [sha256.Size]byte
	out    [128]byte
}

// maxScratch bounds the message buffer kept in the pool, so one huge body does not pin memory.
const maxScratch = 64 << 10

// NewSigner checks c and prepares a Signer. HMAC needs a non-empty secret; PUB-PRIV needs the
// base64 of exactly 32 bytes forming a valid secp256k1 private key. Errors never contain the
// secret.
func NewSigner(c Credentials) (*Signer, error) {
	if c.APIKey == "" {
		return nil, errors.New("hashkey credentials: empty API key")
	}
	s := &Signer{apiKey: c.APIKey, auth: c.AuthType, scheme: c.Scheme}
	switch s.scheme {
	case "":
		s.scheme = SchemeV43
	case SchemeV43, SchemeV42:
	default:
		return nil, fmt.Errorf("hashkey credentials for key %s: unknown signing scheme %q (want %q or %q)",
			c.APIKey, c.Scheme, SchemeV43, SchemeV42)
	}
	switch c.AuthType {
	case AuthHMAC:
		if c.Secret.IsZero() {
			return nil, fmt.Errorf("hashkey credentials for key %s: empty HMAC secret", c.APIKey)
		}
		// The key is the secret string's own bytes, not base64- or hex-decoded (reference §2).
		key := []byte(c.Secret.Reveal())
		s.scratch.New = func() any {
			return &signScratch{mac: hmac.New(sha256.New, key), sha: sha256.New()}
		}
	case AuthPubPriv:
		priv, err := parsePrivateKey(c.Secret)
		if err != nil {
			return nil, fmt.Errorf("hashkey credentials for key %s: %w", c.APIKey, err)
		}
		s.priv = priv
		s.scratch.New = func() any {
			return &signScratch{keccak: sha3.NewLegacyKeccak256(), sha: sha256.New()}
		}
	default:
		return nil, fmt.Errorf("hashkey credentials for key %s: unknown auth type %q (want %q or %q)",
			c.APIKey, c.AuthType, AuthHMAC, AuthPubPriv)
	}
	sc := s.getScratch()
	s.ws = s.sign(sc, []byte(wsLoginMessage))
	s.putScratch(sc)
	return s, nil
}

// parsePrivateKey decodes a base64 secp256k1 private key. Its errors describe the shape of
// the problem only, never the bytes.
func parsePrivateKey(secret Secret) (*secp256k1.PrivateKey, error) {
	if secret.IsZero() {
		return nil, errors.New("empty PUB-PRIV private key")
	}
	text := strings.TrimSpace(secret.Reveal())
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(text)
	}
	if err != nil {
		return nil, errors.New("PUB-PRIV private key is not valid base64")
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("PUB-PRIV private key decodes to %d bytes, want 32", len(raw))
	}
	var k secp256k1.ModNScalar
	overflow := k.SetByteSlice(raw)
	clear(raw)
	if overflow || k.IsZero() {
		return nil, errors.New("PUB-PRIV private key is not a valid secp256k1 scalar (zero or not below the curve order)")
	}
	return secp256k1.NewPrivateKey(&k), nil
}

// APIKey returns the key, for the API-KEY header and the WS login.
func (s *Signer) APIKey() string { return s.apiKey }

// AuthType returns the key's kind, for the AUTH-TYPE header and the WS login.
func (s *Signer) AuthType() AuthType { return s.auth }

// Scheme returns the REST signing revision in use.
func (s *Signer) Scheme() Scheme { return s.scheme }

// String keeps a %v of a Signer (or a struct holding one) from walking into its key state.
func (s *Signer) String() string {
	if s == nil {
		return "hashkey.Signer(nil)"
	}
	return "hashkey.Signer{key:" + s.apiKey + " auth:" + string(s.auth) + " scheme:" + string(s.scheme) + "}"
}

// GoString is String for %#v.
func (s *Signer) GoString() string { return s.String() }

// SignREST returns the API-SIGNATURE header value for one request. timestamp is exactly the
// API-TIMESTAMP header value; target and body are as described at RESTMessage. Under
// SchemeV42 the lowercase hex SHA-256 of the message is signed instead of the message.
func (s *Signer) SignREST(timestamp, method, target string, body []byte) (string, error) {
	if s.ws == "" {
		return "", errors.New("sign request: signer not made by NewSigner")
	}
	if timestamp == "" {
		return "", errors.New("sign request: empty timestamp")
	}
	if !strings.HasPrefix(target, "/v1/") {
		return "", fmt.Errorf("sign request: target %q does not begin with /v1/", target)
	}
	sc := s.getScratch()
	sc.msg = appendRESTMessage(sc.msg[:0], timestamp, method, target, body)
	msg := sc.msg
	if s.scheme == SchemeV42 {
		sc.sha.Reset()
		sc.sha.Write(msg)
		hex.Encode(sc.hex[:], sc.sha.Sum(sc.sum[:0]))
		msg = sc.hex[:]
	}
	sig := s.sign(sc, msg)
	s.putScratch(sc)
	return sig, nil
}

// SignWSLogin returns the signature for the private WebSocket login: the fixed string
// "WSS/APITradeWS/v1/messages", never pre-hashed in either scheme.
func (s *Signer) SignWSLogin() (string, error) {
	if s.ws == "" {
		return "", errors.New("sign ws login: signer not made by NewSigner")
	}
	return s.ws, nil
}

func (s *Signer) getScratch() *signScratch { return s.scratch.Get().(*signScratch) }

func (s *Signer) putScratch(sc *signScratch) {
	if cap(sc.msg) > maxScratch {
		sc.msg = nil
	}
	s.scratch.Put(sc)
}

// sign applies the key to msg. HMAC: base64(HMAC-SHA256(secret, msg)). PUB-PRIV: recoverable
// ECDSA over Keccak-256(msg) as the compact JSON {"r":"…","s":"…","v":27|28}.
func (s *Signer) sign(sc *signScratch, msg []byte) string {
	if s.auth == AuthHMAC {
		sc.mac.Reset()
		sc.mac.Write(msg)
		sum := sc.mac.Sum(sc.sum[:0])
		n := base64.StdEncoding.EncodedLen(len(sum))
		base64.StdEncoding.Encode(sc.out[:n], sum)
		return string(sc.out[:n])
	}
	sc.keccak.Reset()
	sc.keccak.Write(msg)
	digest := sc.keccak.Sum(sc.sum[:0])
	// SignCompact: RFC 6979 nonce, low-S, output [27 + recid (+4 if compressed)] || R || S.
	compact := ecdsa.SignCompact(s.priv, digest, false)
	recID := (compact[0] - 27) &^ 4 // drop the compressed-key flag whatever it was
	out := append(sc.out[:0], `{"r":"`...)
	out = base64.StdEncoding.AppendEncode(out, compact[1:33])
	out = append(out, `","s":"`...)
	out = base64.StdEncoding.AppendEncode(out, compact[33:65])
	out = append(out, `","v":`...)
	out = strconv.AppendUint(out, uint64(27+recID), 10)
	out = append(out, '}')
	return string(out)
}
