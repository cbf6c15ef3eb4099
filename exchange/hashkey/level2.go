package hashkey

import (
	"errors"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// Level2Kind says whether a level2 message is a whole book or only the levels that changed.
type Level2Kind uint8

const (
	Level2Snapshot Level2Kind = 1 // level2…_snapshot, and the REST getLevel2 answer
	Level2Update   Level2Kind = 2 // level2…_update: changed levels only, volume 0 removes
)

func (k Level2Kind) String() string {
	switch k {
	case Level2Snapshot:
		return "snapshot"
	case Level2Update:
		return "update"
	}
	return "unknown"
}

// Errors from Level2Decoder and ApplyLevel2. They are fixed values so that decoding never
// allocates, even for a bad frame; the caller wraps them with the context it has.
var (
	// ErrUnknownInstrument: the frame is well formed but names an instrument the decoder was
	// not given. Decode still returns the message (Instrument nil, InstrumentID set) so the
	// caller can say which one; the stream carries on.
	ErrUnknownInstrument = errors.New("unknown instrument")

	ErrLevel2Syntax       = errors.New("level2: malformed JSON")
	ErrLevel2Type         = errors.New("level2: message type is not a level2 snapshot or update")
	ErrLevel2NoInstrument = errors.New("level2: no instrumentID")
	ErrLevel2Value        = errors.New("level2: price or volume not a valid number at the instrument's precision")
	ErrLevel2Timestamp    = errors.New("level2: pubTimestamp is not a whole number")
	ErrLevel2TooMany      = errors.New("level2: too many levels")
	ErrLevel2WrongBook    = errors.New("level2: message is for another instrument or precision than the book")
)

// level2MaxLevels bounds each side of one message, so that a hostile or broken frame cannot
// grow the decoder's reused buffers without limit. The deepest channel has 50 levels.
const level2MaxLevels = 1000

// level2MaxNesting bounds how deep an unknown value may nest before the frame is refused.
const level2MaxNesting = 64

// Level2 is one decoded level2 message. Everything in it belongs to the decoder and is valid
// only until its next Decode call.
type Level2 struct {
	Kind Level2Kind
	// Depth is the channel depth named by the type (level2@50_update: 50); 0 when the type
	// does not say (plain level2, whose depth changed between revisions, and REST answers).
	Depth int
	// Instrument points into the decoder's table; nil if the instrument is unknown.
	Instrument *exchange.Instrument
	// InstrumentID is the raw id as sent (aliases the frame).
	InstrumentID []byte
	// Bids ("buy") and Asks ("sell") in fixed point at the instrument's precision, in the
	// order the frame lists them.
	Bids, Asks []exchange.Level
	// PubTime is pubTimestamp (seconds or milliseconds, told apart by magnitude); zero if absent.
	PubTime time.Time
	// Received is the local receive time. Decode cannot know it and sets it to zero; the
	// caller fills it in before ApplyLevel2. A forgotten one makes the book look ancient,
	// which fails closed.
	Received time.Time
}

// Level2Decoder decodes level2 frames straight from their bytes into fixed-point levels,
// without encoding/json and without allocating once its buffers have grown. It is owned by
// one goroutine.
type Level2Decoder struct {
	instruments []exchange.Instrument
	byID        map[string]*exchange.Instrument
	msg         Level2
	bids, asks  []exchange.Level
}

// NewLevel2Decoder makes a decoder that knows the given instruments (a later duplicate ID
// wins). It copies them.
func NewLevel2Decoder(instruments []exchange.Instrument) *Level2Decoder {
	d := &Level2Decoder{
		instruments: append([]exchange.Instrument(nil), instruments...),
		byID:        make(map[string]*exchange.Instrument, len(instruments)),
		bids:        make([]exchange.Level, 0, 64),
		asks:        make([]exchange.Level, 0, 64),
	}
	for i := range d.instruments {
		d.byID[d.instruments[i].ID] = &d.instruments[i]
	}
	return d
}

// Decode decodes one level2 frame: a WebSocket level2 message or a REST getLevel2 answer
// (which has no "type" and counts as a snapshot). Keys may come in any order, with stray
// spaces around them and in the old spelling "instrumentId"; values may be strings or bare
// numbers; unknown keys are skipped whatever they hold. The result is valid until the next
// call. On ErrUnknownInstrument the result is returned too (see there); on any other error
// it is nil. Levels are checked for syntax and precision, not for order: the book does that.
func (d *Level2Decoder) Decode(frame []byte) (*Level2, error) {
	m := &d.msg
	*m = Level2{}
	d.bids, d.asks = d.bids[:0], d.asks[:0]
	s := l2Scanner{buf: frame}

	var typ, ts []byte
	var inst *exchange.Instrument // resolved as soon as instrumentID is read
	haveType, haveID := false, false
	// Levels are parsed on the spot when the instrument (and so the precision) is already
	// known, as it is when instrumentID comes first. Otherwise, or if a later instrumentID
	// changes it, they are parsed again from where they start once the object has been read.
	buyAt, sellAt := -1, -1
	var buyWith, sellWith *exchange.Instrument

	s.ws()
	if !s.eat('{') {
		return nil, ErrLevel2Syntax
	}
	s.ws()
	if !s.eat('}') {
		for {
			key, ok := s.str()
			if !ok {
				return nil, ErrLevel2Syntax
			}
			s.ws()
			if !s.eat(':') {
				return nil, ErrLevel2Syntax
			}
			s.ws()
			var err error
			switch string(l2TrimSpaces(key)) {
			case "type":
				typ, ok = s.str()
				haveType = true
			case "instrumentID", "instrumentId":
				m.InstrumentID, ok = s.str()
				inst = d.byID[string(m.InstrumentID)]
				haveID = true
			case "buy":
				buyAt, buyWith = s.pos, inst
				if inst != nil {
					d.bids, err = l2ParseLevels(&s, d.bids[:0], inst)
				} else {
					ok = s.skip(0)
				}
			case "sell":
				sellAt, sellWith = s.pos, inst
				if inst != nil {
					d.asks, err = l2ParseLevels(&s, d.asks[:0], inst)
				} else {
					ok = s.skip(0)
				}
			case "pubTimestamp":
				if !s.literal("null") {
					ts, ok = s.scalar()
				}
			default:
				ok = s.skip(0)
			}
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ErrLevel2Syntax
			}
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			if s.eat('}') {
				break
			}
			return nil, ErrLevel2Syntax
		}
	}
	s.ws()
	if s.pos != len(frame) {
		return nil, ErrLevel2Syntax
	}

	m.Kind = Level2Snapshot
	if haveType {
		var ok bool
		if m.Kind, m.Depth, ok = level2Type(typ); !ok {
			return nil, ErrLevel2Type
		}
	}
	if !haveID {
		return nil, ErrLevel2NoInstrument
	}
	var err error
	if m.PubTime, err = l2PubTime(ts); err != nil {
		return nil, err
	}
	if inst == nil {
		d.bids, d.asks = d.bids[:0], d.asks[:0]
		return m, ErrUnknownInstrument
	}
	m.Instrument = inst
	if buyAt >= 0 && buyWith != inst {
		if d.bids, err = l2ParseLevels(&l2Scanner{buf: frame, pos: buyAt}, d.bids[:0], inst); err != nil {
			return nil, err
		}
	}
	if sellAt >= 0 && sellWith != inst {
		if d.asks, err = l2ParseLevels(&l2Scanner{buf: frame, pos: sellAt}, d.asks[:0], inst); err != nil {
			return nil, err
		}
	}
	m.Bids, m.Asks = d.bids, d.asks
	return m, nil
}

// ApplyLevel2 applies a decoded message to the book of its instrument: a snapshot replaces
// the book (keeping the channel's depth), an update applies each level. It stamps the book
// with m.PubTime and m.Received. If an update fails part way the book is Reset, because it
// no longer matches the exchange's; it stays unready until the next snapshot.
func ApplyLevel2(b *exchange.Book, m *Level2) error {
	bi := b.Instrument()
	if m.Instrument == nil || m.Instrument.ID != bi.ID ||
		m.Instrument.PricePrecision != bi.PricePrecision || m.Instrument.VolumePrecision != bi.VolumePrecision {
		return ErrLevel2WrongBook
	}
	switch m.Kind {
	case Level2Snapshot:
		return b.ApplySnapshotDepth(m.Bids, m.Asks, m.Depth, m.PubTime, m.Received)
	case Level2Update:
		if !b.Ready() {
			return exchange.ErrBookNotReady
		}
		// Removals first: an update lists levels best first, so a level entering the top N
		// can come before a worse one leaving it. Applied in that order, the insertion would
		// find the side full and push out its worst level, which is still in the exchange's
		// top N and will not be sent again. With the removals done first the side never
		// overflows (the diff takes it from the old top N to the new one).
		for _, removals := range [2]bool{true, false} {
			for _, l := range m.Bids {
				if (l.Volume == 0) != removals {
					continue
				}
				if err := b.Apply(exchange.Buy, l); err != nil {
					b.Reset()
					return err
				}
			}
			for _, l := range m.Asks {
				if (l.Volume == 0) != removals {
					continue
				}
				if err := b.Apply(exchange.Sell, l); err != nil {
					b.Reset()
					return err
				}
			}
		}
		b.Stamp(m.PubTime, m.Received)
		return nil
	}
	return ErrLevel2Type
}

// IsLevel2 reports whether a message type is a level2 snapshot or update, and which:
// level2_snapshot, level2_update and the same with @5, @10, @20, @50 (any depth is accepted).
func IsLevel2[T ~string | ~[]byte](msgType T) (Level2Kind, bool) {
	k, _, ok := level2Type(msgType)
	return k, ok
}

// level2Type parses "level2[@N]_snapshot|_update"; depth is 0 without "@N".
func level2Type[T ~string | ~[]byte](t T) (kind Level2Kind, depth int, ok bool) {
	const prefix = "level2"
	if len(t) < len(prefix) {
		return 0, 0, false
	}
	for i := 0; i < len(prefix); i++ {
		if t[i] != prefix[i] {
			return 0, 0, false
		}
	}
	i := len(prefix)
	if i < len(t) && t[i] == '@' {
		i++
		start := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' && i-start < 4 {
			depth = depth*10 + int(t[i]-'0')
			i++
		}
		if i == start || depth == 0 {
			return 0, 0, false
		}
	}
	switch {
	case l2HasSuffixAt(t, i, "_snapshot"):
		return Level2Snapshot, depth, true
	case l2HasSuffixAt(t, i, "_update"):
		return Level2Update, depth, true
	}
	return 0, 0, false
}

// l2HasSuffixAt reports whether t[i:] is exactly s.
func l2HasSuffixAt[T ~string | ~[]byte](t T, i int, s string) bool {
	if len(t)-i != len(s) {
		return false
	}
	for j := 0; j < len(s); j++ {
		if t[i+j] != s[j] {
			return false
		}
	}
	return true
}

// l2PubTime reads pubTimestamp. The exchange sends seconds (10 digits) or milliseconds (13);
// telling them apart by magnitude also covers micro- and nanoseconds should they appear.
// An absent or empty value gives the zero time.
func l2PubTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if len(b) > 19 {
		return time.Time{}, ErrLevel2Timestamp
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return time.Time{}, ErrLevel2Timestamp
		}
		n = n*10 + int64(c-'0') // 19 digits fit: the length check comes first
	}
	if n < 0 { // 19 nines overflow int64
		return time.Time{}, ErrLevel2Timestamp
	}
	switch {
	case n == 0:
		return time.Time{}, nil
	case n < 1e11: // seconds until the year 5138
		return time.Unix(n, 0).UTC(), nil
	case n < 1e14:
		return time.UnixMilli(n).UTC(), nil
	case n < 1e17:
		return time.UnixMicro(n).UTC(), nil
	}
	return time.Unix(0, n).UTC(), nil
}

// l2ParseLevels reads an array of [price, volume] pairs (or null) at the scanner's position
// into dst, checking its syntax as it goes, and leaves the scanner after it. Elements past
// the second of a pair are skipped.
func l2ParseLevels(s *l2Scanner, dst []exchange.Level, inst *exchange.Instrument) ([]exchange.Level, error) {
	if s.literal("null") {
		return dst, nil
	}
	if !s.eat('[') {
		return dst, ErrLevel2Syntax // a string, number or object where the levels belong
	}
	s.ws()
	if s.eat(']') {
		return dst, nil
	}
	for {
		if len(dst) >= level2MaxLevels {
			return dst, ErrLevel2TooMany
		}
		if !s.eat('[') {
			return dst, ErrLevel2Syntax
		}
		s.ws()
		p, ok := s.scalar()
		if !ok {
			return dst, ErrLevel2Syntax
		}
		s.ws()
		if !s.eat(',') {
			return dst, ErrLevel2Syntax
		}
		s.ws()
		v, ok := s.scalar()
		if !ok {
			return dst, ErrLevel2Syntax
		}
		s.ws()
		for s.eat(',') { // extra elements, e.g. an order count some feeds add
			s.ws()
			if !s.skip(1) {
				return dst, ErrLevel2Syntax
			}
			s.ws()
		}
		if !s.eat(']') {
			return dst, ErrLevel2Syntax
		}
		price, err := exchange.ParseFixed(p, inst.PricePrecision)
		if err != nil || price <= 0 {
			return dst, ErrLevel2Value
		}
		volume, err := exchange.ParseFixed(v, inst.VolumePrecision)
		if err != nil {
			return dst, ErrLevel2Value
		}
		dst = append(dst, exchange.Level{Price: price, Volume: volume})
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		if s.eat(']') {
			return dst, nil
		}
		return dst, ErrLevel2Syntax
	}
}

// l2TrimSpaces drops the stray spaces the exchange leaves around some keys ("instrumentID ").
func l2TrimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// l2Scanner is a minimal JSON reader over one frame: enough to walk an object, pick out the
// few keys level2 needs and skip (while still checking) everything else.
type l2Scanner struct {
	buf []byte
	pos int
}

// ws skips JSON whitespace. Here and in str the scanner's fields are copied to locals for
// the loop: through the pointer the compiler reloads them on every byte.
func (s *l2Scanner) ws() {
	buf, pos := s.buf, s.pos
	for pos < len(buf) && l2Space[buf[pos]] {
		pos++
	}
	s.pos = pos
}

// l2Space marks the bytes JSON counts as whitespace.
var l2Space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// l2StrStop marks the bytes that end the fast path through a string's contents: the closing
// quote, a backslash, and the control characters JSON forbids there.
var l2StrStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// eat consumes c if it is next.
func (s *l2Scanner) eat(c byte) bool {
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// str reads a string and returns its raw contents (escapes left as they are: none of the
// keys or values level2 reads needs one, and a value that has one fails to match or parse).
func (s *l2Scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.pos
	for {
		buf, pos := s.buf, s.pos
		for pos < len(buf) && !l2StrStop[buf[pos]] {
			pos++
		}
		s.pos = pos
		if pos >= len(buf) {
			return nil, false
		}
		switch buf[pos] {
		case '"':
			s.pos++
			return buf[start:pos], true
		case '\\':
			if !s.escape() {
				return nil, false
			}
		default: // a control character
			return nil, false
		}
	}
}

// escape checks one escape sequence at s.pos (the backslash) and steps over it.
func (s *l2Scanner) escape() bool {
	if s.pos+1 >= len(s.buf) {
		return false
	}
	switch s.buf[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
		if s.pos+6 > len(s.buf) {
			return false
		}
		for _, h := range s.buf[s.pos+2 : s.pos+6] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return false
			}
		}
		s.pos += 6
		return true
	}
	return false
}

// scalar reads a string's raw contents or a bare number's text.
func (s *l2Scanner) scalar() ([]byte, bool) {
	if s.pos < len(s.buf) && s.buf[s.pos] == '"' {
		return s.str()
	}
	start := s.pos
	if !s.number() {
		return nil, false
	}
	return s.buf[start:s.pos], true
}

// number steps over a JSON number, checking its grammar.
func (s *l2Scanner) number() bool {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.digits() == 0:
		return false
	}
	if s.eat('.') && s.digits() == 0 {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits steps over a run of decimal digits and says how many there were.
func (s *l2Scanner) digits() int {
	start := s.pos
	for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal consumes the exact bytes of w (true, false, null).
func (s *l2Scanner) literal(w string) bool {
	if len(s.buf)-s.pos < len(w) || string(s.buf[s.pos:s.pos+len(w)]) != w {
		return false
	}
	s.pos += len(w)
	return true
}

// skip steps over one JSON value of any kind, checking its syntax, nested at most
// level2MaxNesting deep.
func (s *l2Scanner) skip(depth int) bool {
	if s.pos >= len(s.buf) {
		return false
	}
	switch c := s.buf[s.pos]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		if depth >= level2MaxNesting {
			return false
		}
		s.pos++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.eat(':') {
				return false
			}
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.eat('}') {
				return true
			}
			if !s.eat(',') {
				return false
			}
			s.ws()
		}
	case c == '[':
		if depth >= level2MaxNesting {
			return false
		}
		s.pos++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
			s.ws()
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}
