// Package audittest checks that an [audit.Sink] keeps the contract every sink
// must keep, so that a custom sink can be trusted behind a guard.
//
// # Use
//
// Call [Run] from a test with a [Config] that makes fresh sinks:
//
//	func TestMySink(t *testing.T) {
//		audittest.Run(t, audittest.Config{
//			New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
//				s := mysink.New(…)
//				return s, func() []audit.Event { return s.ReadBack() }
//			},
//		})
//	}
//
// # What it checks
//
//   - Order: events recorded one after another come back in that order, and a
//     sink that numbers events numbers them 1, 2, 3, … with no gap.
//   - Concurrency: many callers at once; every event Record accepted comes back
//     exactly once, unchanged.
//   - Cancellation: a cancelled or expired ctx does not drop an event.
//   - Errors: a sink that cannot record says so: Record returns an error.
package audittest
