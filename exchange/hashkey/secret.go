package hashkey

import (
	"fmt"
	"io"
)

// redacted is what every printing, marshalling and logging path shows instead of a secret.
const redacted = "[redacted]"

// Secret holds an API secret (an HMAC secret or a base64 secp256k1 private key). Every way
// of printing it — fmt with any verb, JSON, YAML, text, zap — shows "[redacted]"; Reveal is
// the only way to read it, so a grep for Reveal finds every place the value is used.
//
// It is a fmt.Stringer and deliberately not a zapcore.ObjectMarshaler: zap.Any then logs the
// plain string "[redacted]" (an ObjectMarshaler could only log an object), and zap.Reflect
// goes through MarshalJSON.
//
// The value sits behind a pointer on purpose: fmt cannot call methods on a value held in an
// unexported struct field and prints such fields raw, but it prints a nested pointer as an
// address, so even `%+v` of a struct with an unexported Secret field does not leak. The
// price is that == compares identity, not content; compare Reveal() where that matters.
type Secret struct{ v *string }

// NewSecret wraps s. An empty s gives a zero Secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the secret's value. Call it only where the value is consumed (signing).
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// String implements fmt.Stringer; zap.Any and zap.Stringer use it too.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer for %#v.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%v %+v %#v %s %q %x %d …) redacts;
// without it %x would hex-dump the struct.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, `"`+redacted+`"`)
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// MarshalJSON implements json.Marshaler (also what zap.Reflect uses).
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalYAML implements yaml.Marshaler (gopkg.in/yaml.v3).
func (Secret) MarshalYAML() (any, error) { return redacted, nil }
