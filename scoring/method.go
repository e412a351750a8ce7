package scoring

import (
	"fmt"
	"strings"
)

// Method names a relatedness score. Several scores exist so that the
// evaluation (docs/DESIGN.md section 7) can compare them on the same counters. The
// names are stable strings because they appear in configuration, in CLI
// flags and in the settings fingerprint stored with the state.
type Method string

const (
	// Amazon2017Prior is the default served score: Amazon2017 with a prior
	// on the expectation, (N_XY - E_XY)/sqrt(E_XY + PriorExpected). Where
	// E_XY is large it is Amazon2017; where E_XY is tiny (a pair of two rare
	// items) the denominator no longer vanishes, so two co-buyers of rare
	// items cannot outrank a pair with many more excess co-buyers than
	// chance. See PriorExpected.
	Amazon2017Prior Method = "amazon2017_prior"
	// Amazon2017 is Smith & Linden 2017's chi-square score
	// (N_XY - E_XY)/sqrt(E_XY). Its expectation E_XY comes from the exact
	// histogram h_X, so heavy buyers of X, who would buy Y by chance anyway,
	// do not make Y look related.
	Amazon2017 Method = "amazon2017"
	// Cosine is the 2003 paper's score N_XY / sqrt(B_X*B_Y). It is a baseline
	// that favours best-sellers.
	Cosine Method = "cosine"
	// Jaccard is N_XY / (B_X + B_Y - N_XY), SAR's default similarity.
	Jaccard Method = "jaccard"
	// LLR is Dunning's G^2 log-likelihood ratio over the customers' 2x2
	// table (Mahout's CCO). It counts positive association only.
	LLR Method = "llr"
	// Count is the raw co-buyer count N_XY. This is the "customers who
	// bought this also bought" baseline that makes best-sellers related to
	// everything.
	Count Method = "count"
)

// ViewedThenBoughtMethod names the score of "customers who viewed X bought"
// lists, (M_XY - E)/sqrt(E) with E = M_X * P_Y (ViewedThenBought). Those
// lists always use it, so it is not one of the selectable Methods.
const ViewedThenBoughtMethod Method = "viewed_then_bought"

// DefaultMethod is the served score when none is configured.
const DefaultMethod = Amazon2017Prior

// PriorExpected is Amazon2017Prior's prior on E_XY, in customers: the
// variance of N_XY under chance is taken as E_XY + PriorExpected instead of
// E_XY, as if every pair had PriorExpected customers' worth of chance
// co-buying on top of its own. The point estimate (N-E)/sqrt(E) is a
// chi-square statistic that needs a large E; with E near 0 it grows like
// 1/sqrt(E), and on catalogues of many rare items (the Dunnhumby sample)
// pairs seen twice fill every list. With the prior, the score of such a
// pair is about N/sqrt(PriorExpected), so it must show more excess
// co-buyers than the best-sellers' pairs to rank above them.
//
// The value was chosen once, for every data set, on the earlier half of the
// evaluation windows (docs/EVALUATION.md, "Improving the served blend"):
// of 1, 2, 5, 10, 25 and 100, the smallest maximising the geometric mean,
// over the shared data sets, of the served blend's HR@6 relative to
// popularity. It is a constant of the method: changing it changes the
// lists, so it is part of the method's name in the settings fingerprint.
const PriorExpected = 25.0

// Methods returns every method, default first, in a fixed order. The order
// is for help texts and evaluation tables. Each call returns a fresh slice,
// so callers may modify it.
func Methods() []Method {
	return []Method{Amazon2017Prior, Amazon2017, Cosine, Jaccard, LLR, Count}
}

// ParseMethod returns the method called s. It ignores case and surrounding
// space, because s usually comes from a flag or an environment variable. The
// error for an unknown name lists the valid names, so a typo in a deployment
// is fixed from the log line alone.
func ParseMethod(s string) (Method, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for _, m := range Methods() {
		if string(m) == name {
			return m, nil
		}
	}
	return "", fmt.Errorf("scoring: unknown method %q (valid: %s)", s, methodNames())
}

func methodNames() string {
	ms := Methods()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// valid reports whether m is one of Methods().
func (m Method) valid() bool {
	switch m {
	case Amazon2017Prior, Amazon2017, Cosine, Jaccard, LLR, Count:
		return true
	}
	return false
}
