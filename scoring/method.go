package scoring

import (
	"fmt"
	"strings"
)

// Method names a relatedness score. Several scores exist so that the
// evaluation (DESIGN.md section 7) can compare them on the same counters. The
// names are stable strings because they appear in configuration, in CLI
// flags and in the settings fingerprint stored with the state.
type Method string

const (
	// Amazon2017 is the default: Smith & Linden 2017's chi-square score
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

// Methods returns every method, default first, in a fixed order. The order
// is for help texts and evaluation tables. Each call returns a fresh slice,
// so callers may modify it.
func Methods() []Method {
	return []Method{Amazon2017, Cosine, Jaccard, LLR, Count}
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
	case Amazon2017, Cosine, Jaccard, LLR, Count:
		return true
	}
	return false
}
