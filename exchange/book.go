package exchange

import "time"

// Level is one price level in exact fixed point: Price in ticks of 10^-PricePrecision and
// Volume in lots of 10^-VolumePrecision of the book's instrument.
type Level struct {
	Price  int64
	Volume int64
}

// BookSnapshot is an immutable copy of a book that a strategy may hold while the live book
// moves on. Bids and Asks are best first and must not be modified.
type BookSnapshot struct {
	Instrument   Instrument
	Bids         []Level
	Asks         []Level
	ExchangeTime time.Time // pubTimestamp of the last message applied
	Received     time.Time // local receive time of the last message applied
}
