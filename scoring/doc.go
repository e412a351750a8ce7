// Package scoring computes related-item scores and related-item lists from
// co-occurrence counters (docs/DESIGN.md section 3).
//
// Everything here is a pure function of its arguments: no I/O, no clock, no
// randomness, no package state. The batch oracle and the streaming re-scorer
// both call these functions, each on counters it derived its own way
// (promise 2). So if their counters agree, their lists agree, and when the
// lists differ the fault is in the counters (the delta logic), not here.
//
// Determinism is part of the contract:
//   - The same inputs give the same bits, whatever the order of Row.Hist or
//     Row.Candidates. The histogram is always summed in ascending Others, and
//     lists are selected under a total order.
//   - Items with equal counts get exactly equal scores. Ties are then broken
//     by the documented rules (Support desc, item id asc), not by rounding
//     noise.
//   - Score and RelatedList share one code path, so a single Score call
//     returns exactly the value that RelatedList puts in the list.
//   - Sums that follow a product convert the product to float64 explicitly.
//     The Go spec lets the compiler fuse x*y+z into one FMA instruction (it
//     does on arm64), and an explicit conversion forbids that. Our own
//     arithmetic therefore rounds the same way on every architecture. Scores
//     from binaries built for different architectures can still differ in the
//     last ulps, because of math.Log and friends; promise 2's relative
//     tolerance (EqualLists) covers that.
//
// Counters that no set of histories could produce make a score undefined
// rather than a made-up number. Examples are a support above a buyer count,
// B_Y > T, or a negative cell in the LLR table. Each method checks the
// counters it uses: Amazon2017 does not read Row.Buyers, and Count reads
// only N_XY. RelatedList skips undefined scores, so a row
// read from half-applied counters shrinks for a moment instead of listing
// garbage. The row is dirty anyway and is re-scored once the writes land.
package scoring
