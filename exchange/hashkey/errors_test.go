package hashkey

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mmd-dev/mmd/exchange"
)

func TestClassOfEveryDocumentedCode(t *testing.T) {
	// The table of hashkey-pro-api.md §4, code by code.
	want := map[int]Class{
		1000: ClassFatal, 1001: ClassResync, 1002: ClassFatal, 1003: ClassFatal,
		1004: ClassBackoff, 1005: ClassRetry, 1006: ClassFatal, 1007: ClassBug,
		1008: ClassBug, 1009: ClassBug, 1010: ClassBug, 1011: ClassBug,
		2001: ClassBug, 2002: ClassBug, 2003: ClassBug, 2004: ClassReconcile,
		2005: ClassBug, 2006: ClassFatal, 2007: ClassPause, 2008: ClassFatal,
		2009: ClassBug, 2010: ClassFatal, 2011: ClassRisk, 2012: ClassBug,
		2013: ClassBug, 2014: ClassReconcile, 2015: ClassReconcile, 2016: ClassBug,
		2017: ClassBug, 2018: ClassBug, 2019: ClassRisk, 2020: ClassRisk,
		2021: ClassBug, 2022: ClassBug,
	}
	for code, class := range want {
		if got := ClassOf(code); got != class {
			t.Errorf("ClassOf(%d) = %s, want %s", code, got, class)
		}
		if CodeText(code) == "unknown code" {
			t.Errorf("CodeText(%d) has no text", code)
		}
		if got := (&APIError{Code: code}).Class(); got != class {
			t.Errorf("APIError{%d}.Class() = %s, want %s", code, got, class)
		}
	}
	if len(codeInfo) != len(want) {
		t.Errorf("codeInfo has %d codes, the reference %d", len(codeInfo), len(want))
	}
	for _, code := range []int{0, -1, 999, 1012, 2000, 2023, 9999} {
		if ClassOf(code) != ClassUnknown || CodeText(code) != "unknown code" {
			t.Errorf("code %d: class %s text %q, want unknown", code, ClassOf(code), CodeText(code))
		}
	}
}

func TestClassString(t *testing.T) {
	want := map[Class]string{
		ClassUnknown: "unknown", ClassFatal: "fatal", ClassResync: "resync", ClassBackoff: "backoff",
		ClassRetry: "retry", ClassReconcile: "reconcile", ClassPause: "pause", ClassRisk: "risk",
		ClassBug: "bug", Class(200): "class(200)",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Class(%d).String() = %q, want %q", uint8(c), c.String(), s)
		}
	}
}

func TestAPIErrorThroughWrapping(t *testing.T) {
	base := &APIError{Op: "insert 15421040010560001", Code: 2011, Message: "Insufficient balance"}
	if got, want := base.Error(), "hashkey insert 15421040010560001: respCode 2011 (insufficient balance): Insufficient balance"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := (&APIError{Op: "time", Code: 1004}).Error(); got != "hashkey time: respCode 1004 (too many requests)" {
		t.Fatalf("Error() without message = %q", got)
	}
	err := fmt.Errorf("quote ETH-BTC: %w", fmt.Errorf("gate: %w", base))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 2011 || ae.Class() != ClassRisk {
		t.Fatalf("errors.As through two wraps: %v %+v", err, ae)
	}
	var te *TransportError
	if errors.As(err, &te) {
		t.Fatal("an APIError matched TransportError")
	}
}

// The codes that say an order is already gone match exchange.ErrOrderDone, wrapped or not;
// no other code does.
func TestAPIErrorOrderDone(t *testing.T) {
	for code, want := range map[int]bool{2004: true, 2014: true, 2015: true, 1000: false, 2011: false, 1005: false} {
		err := fmt.Errorf("cancel: %w", &APIError{Op: "cancel", Code: code})
		if got := errors.Is(err, exchange.ErrOrderDone); got != want {
			t.Errorf("code %d: errors.Is(ErrOrderDone) = %v, want %v", code, got, want)
		}
	}
}

func TestTransportError(t *testing.T) {
	tests := []struct {
		e    *TransportError
		want string
	}{
		{&TransportError{Op: "time", Status: 502, Err: errors.New("bad gateway")}, "hashkey time: http status 502: bad gateway"},
		{&TransportError{Op: "time", Status: 503}, "hashkey time: http status 503"},
		{&TransportError{Op: "time", Err: io.ErrUnexpectedEOF}, "hashkey time: unexpected EOF"},
		{&TransportError{Op: "time"}, "hashkey time: transport error"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	err := fmt.Errorf("sync clock: %w", &TransportError{Op: "time", Err: io.ErrUnexpectedEOF})
	var te *TransportError
	if !errors.As(err, &te) || te.Op != "time" {
		t.Fatal("errors.As failed")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("Unwrap does not reach the cause")
	}
	if strings.Contains(err.Error(), "respCode") {
		t.Fatal("transport error claims a respCode")
	}
}
