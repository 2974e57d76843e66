package workload

// Settle decides what one attempt of an operation means for the whole
// operation, given that earlier attempts (all with the same client id and
// sequence number) ended indefinitely. It returns the operation's outcome
// and whether to try again.
//
// The node deduplicates by (client id, seq): whichever attempt applies
// first decides, and every later attempt is answered from the session
// cache. So a definite answer to a retry is the truth about the whole
// operation, with one exception: a "fail" that only says the retry itself
// went nowhere (no leader, node down) says nothing about the earlier
// attempts, which may still take effect. That fail must become info.
func Settle(attempt int, res Result) (Result, bool) {
	switch {
	case res.Outcome == OK:
		return res, false
	case res.Outcome == Fail && (attempt == 0 || res.Mismatch):
		return res, false
	}
	// Indefinite so far: info, unless another attempt may settle it.
	res.Outcome = Info
	return res, true
}
