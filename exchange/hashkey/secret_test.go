package hashkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"
)

// sprintAll formats v with every verb a log or error line might use.
func sprintAll(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%-20s"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	fmt.Fprintln(&b, v)
	fmt.Fprint(&b, v)
	return b.String()
}

type secretHolder struct {
	Public  Secret
	private Secret
	Ptr     *Secret
	Creds   Credentials
	creds   Credentials
	Map     map[string]Secret
	Slice   []Secret
	Iface   any
	Nested  struct{ Inner Secret }
}

func newSecretHolder(s Secret) secretHolder {
	h := secretHolder{
		Public:  s,
		private: s,
		Ptr:     &s,
		Creds:   Credentials{APIKey: "key-1", AuthType: AuthHMAC, Secret: s},
		creds:   Credentials{APIKey: "key-1", AuthType: AuthHMAC, Secret: s},
		Map:     map[string]Secret{"a": s},
		Slice:   []Secret{s, s},
		Iface:   s,
	}
	h.Nested.Inner = s
	return h
}

func TestSecretNeverShows(t *testing.T) {
	const value = "hunter2-very-secret-0adabfc46fa8"
	s := NewSecret(value)
	h := newSecretHolder(s)
	hp := &h

	check := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.Contains(out, value) || strings.Contains(out, "hunter2") {
			t.Fatalf("%s shows the secret: %s", what, out)
		}
		if !strings.Contains(out, redacted) && !strings.Contains(out, "0x") {
			t.Fatalf("%s shows neither %s nor a pointer: %s", what, redacted, out)
		}
	}

	t.Run("fmt", func(t *testing.T) {
		for _, v := range []any{s, &s, h, hp, h.Creds, []Secret{s}} {
			check(t, fmt.Sprintf("fmt of %T", v), sprintAll(v))
		}
		if got := fmt.Sprintf("%q", s); got != `"[redacted]"` {
			t.Fatalf("%%q = %s", got)
		}
		if got := fmt.Sprintf("%v|%s|%#v", s, s, s); got != "[redacted]|[redacted]|[redacted]" {
			t.Fatalf("verbs = %s", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		base := fmt.Errorf("login with %v (%+v, %#v, %s, %q)", s, h, h.creds, s, s)
		wrapped := fmt.Errorf("connect: %w", base)
		joined := errors.Join(wrapped, fmt.Errorf("again %v", hp))
		check(t, "error", joined.Error())
		check(t, "error %+v", fmt.Sprintf("%+v", joined))
	})

	t.Run("json", func(t *testing.T) {
		for _, v := range []any{s, h, hp, map[Secret]int{s: 1}} {
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			check(t, fmt.Sprintf("json of %T", v), string(out))
		}
		out, _ := json.Marshal(s)
		if string(out) != `"[redacted]"` {
			t.Fatalf("json = %s", out)
		}
	})

	t.Run("yaml", func(t *testing.T) {
		for _, v := range []any{s, h, hp} {
			out, err := yaml.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			check(t, fmt.Sprintf("yaml of %T", v), string(out))
		}
	})

	t.Run("text", func(t *testing.T) {
		out, err := s.MarshalText()
		if err != nil || string(out) != redacted {
			t.Fatalf("MarshalText = %s, %v", out, err)
		}
	})

	t.Run("zap", func(t *testing.T) {
		var buf bytes.Buffer
		for _, enc := range []zapcore.Encoder{
			zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
			zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		} {
			log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel))
			log.Info("secret_test",
				zap.Any("any", s), zap.Any("any_ptr", &s), zap.Any("holder", h), zap.Any("holder_ptr", hp),
				zap.Reflect("reflect", s), zap.Reflect("reflect_holder", h),
				zap.Stringer("stringer", s), zap.Any("creds", h.Creds),
				zap.Error(fmt.Errorf("wrapped %v", s)), zap.Any("slice", []Secret{s}),
			)
			log.With(zap.Any("with", s)).Sugar().Infow("secret_test_sugar", "s", s, "h", h)
			log.Sugar().Infof("secret_test_f %v %+v %s", s, h, s)
		}
		check(t, "zap", buf.String())
		if !strings.Contains(buf.String(), `"any":"[redacted]"`) {
			t.Fatalf("zap.Any did not log the redacted string: %s", buf.String())
		}
	})

	t.Run("panic", func(t *testing.T) {
		got := func() (r any) {
			defer func() { r = recover() }()
			panic(s)
		}()
		check(t, "panic value", fmt.Sprint(got))
	})
}

func TestSecretReveal(t *testing.T) {
	tests := []struct {
		in   string
		zero bool
	}{{"", true}, {"x", false}, {"  spaced  ", false}}
	for _, tt := range tests {
		s := NewSecret(tt.in)
		if s.Reveal() != tt.in || s.IsZero() != tt.zero {
			t.Errorf("NewSecret(%q): Reveal %q IsZero %v", tt.in, s.Reveal(), s.IsZero())
		}
	}
	var zero Secret
	if !zero.IsZero() || zero.Reveal() != "" {
		t.Error("zero Secret is not empty")
	}
}
