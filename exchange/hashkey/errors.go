package hashkey

import (
	"fmt"
	"strconv"

	"github.com/mmd-dev/mmd/exchange"
)

// Class says what a caller should do about an exchange error code (hashkey-pro-api.md §4).
type Class uint8

const (
	ClassUnknown   Class = iota // a code the reference does not list: treat as failure, no retry
	ClassFatal                  // configuration (key, account, instrument): stop and say which
	ClassResync                 // 1001: resync the clock offset, retry once
	ClassBackoff                // 1004: back off, tighten the local limiter
	ClassRetry                  // 1005: retry with backoff, idempotent calls only
	ClassReconcile              // the order is already gone: reconcile, not an error
	ClassPause                  // 2007: pause quoting the instrument
	ClassRisk                   // balance or size: shrink or skip; the gate should have stopped it
	ClassBug                    // a request we built wrong: fatal, fix the code
)

func (c Class) String() string {
	switch c {
	case ClassUnknown:
		return "unknown"
	case ClassFatal:
		return "fatal"
	case ClassResync:
		return "resync"
	case ClassBackoff:
		return "backoff"
	case ClassRetry:
		return "retry"
	case ClassReconcile:
		return "reconcile"
	case ClassPause:
		return "pause"
	case ClassRisk:
		return "risk"
	case ClassBug:
		return "bug"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// codeInfo is the reference's table of respCodes: meaning and class.
var codeInfo = map[int]struct {
	text  string
	class Class
}{
	1000: {"signature invalid", ClassFatal},
	1001: {"request expired", ClassResync},
	1002: {"API key not found", ClassFatal},
	1003: {"account locked", ClassFatal},
	1004: {"too many requests", ClassBackoff},
	1005: {"internal service error", ClassRetry},
	1006: {"API key blacklisted", ClassFatal},
	1007: {"unexpected property in body", ClassBug},
	1008: {"missing API-TIMESTAMP", ClassBug},
	1009: {"missing API-KEY", ClassBug},
	1010: {"missing API-SIGNATURE", ClassBug},
	1011: {"missing valid AUTH-TYPE", ClassBug},
	2001: {"price has too many decimals", ClassBug},
	2002: {"volume has too many decimals", ClassBug},
	2003: {"orderLocalID longer than 20", ClassBug},
	2004: {"order ID does not exist", ClassReconcile},
	2005: {"more than 10 IDs in a batch cancel", ClassBug},
	2006: {"instrument does not exist", ClassFatal},
	2007: {"instrument status forbids this now", ClassPause},
	2008: {"client not found", ClassFatal},
	2009: {"order field error", ClassBug},
	2010: {"account not found", ClassFatal},
	2011: {"insufficient balance", ClassRisk},
	2012: {"invalid volume", ClassBug},
	2013: {"unsupported order type", ClassBug},
	2014: {"order already filled", ClassReconcile},
	2015: {"order already cancelled", ClassReconcile},
	2016: {"orderSysID empty", ClassBug},
	2017: {"direction invalid", ClassBug},
	2018: {"orderLocalID empty", ClassBug},
	2019: {"volume not below 10,000,000", ClassRisk},
	2020: {"price not below 10,000,000", ClassRisk},
	2021: {"unsupported price type", ClassBug},
	2022: {"time condition invalid", ClassBug},
}

// ClassOf returns the class of a respCode; ClassUnknown for a code the reference does not list.
func ClassOf(code int) Class {
	if info, ok := codeInfo[code]; ok {
		return info.class
	}
	return ClassUnknown
}

// CodeText returns the short meaning of a respCode, or "unknown code" if undocumented.
func CodeText(code int) string {
	if info, ok := codeInfo[code]; ok {
		return info.text
	}
	return "unknown code"
}

// APIError is an answer carrying a respCode: the exchange refused the call. Branch on it with
// errors.As and Class.
type APIError struct {
	Op      string // what we were doing, e.g. "insert 15421040010560001"
	Code    int    // respCode
	Message string // respMsg as the exchange sent it
}

func (e *APIError) Error() string {
	s := "hashkey " + e.Op + ": respCode " + strconv.Itoa(e.Code) + " (" + CodeText(e.Code) + ")"
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Class is ClassOf(e.Code).
func (e *APIError) Class() Class { return ClassOf(e.Code) }

// Is makes an error of the reconcile class (2004, 2014, 2015: the order is already gone)
// match exchange.ErrOrderDone, which is what the engine, knowing no codes, asks about.
func (e *APIError) Is(target error) bool {
	return target == exchange.ErrOrderDone && e.Class() == ClassReconcile
}

// TransportError is a failure below the API: the network, or a non-2xx status whose body
// carried no respCode. Status is 0 when no HTTP answer came.
type TransportError struct {
	Op     string
	Status int
	Err    error
}

func (e *TransportError) Error() string {
	switch {
	case e.Status != 0 && e.Err != nil:
		return fmt.Sprintf("hashkey %s: http status %d: %v", e.Op, e.Status, e.Err)
	case e.Status != 0:
		return fmt.Sprintf("hashkey %s: http status %d", e.Op, e.Status)
	case e.Err != nil:
		return fmt.Sprintf("hashkey %s: %v", e.Op, e.Err)
	}
	return "hashkey " + e.Op + ": transport error"
}

func (e *TransportError) Unwrap() error { return e.Err }
