// Package checker records, reads and checks raftcheck histories.
//
// A history is a JSON-lines file (history.jsonl): a header line naming the
// format and its version, then one [Event] per line in Jepsen's vocabulary
// (invoke / ok / fail / info). [Writer] produces it, [Reader] streams it back
// and refuses anything inconsistent, [Check] decides whether the client
// operations are linearizable with porcupine, using a per-key register model,
// and [WriteHTML] renders porcupine's visualization of the keys that failed,
// with the nemesis's faults drawn beside the operations. [Explain] shrinks a
// failing key to a few operations that still cannot be linearized and says
// in words what went wrong, with the faults and node states of that window.
//
// Interpretation of outcomes, which the model relies on:
//   - ok: the operation took effect, between its invocation and completion.
//   - fail: it definitely did not take effect (a cas whose compare did not
//     match is reported as fail); it is left out of the check.
//   - info, or no completion at all: it may or may not have taken effect, at
//     any time after its invocation; its result is unknown.
package checker
