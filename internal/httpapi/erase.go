package httpapi

import (
	"net/http"

	"github.com/alsobought/alsobought/event"
)

// ErasureResponse is the answer of DELETE /v1/customers/{id}.
type ErasureResponse struct {
	CustomerID string `json:"customer_id"`
	// Status is "requested": the owners of Partitions erase the customer
	// at their next sweep (seconds); "nothing": the state holds no history
	// of the customer.
	Status     string `json:"status"`
	Partitions []int  `json:"partitions"`
}

// erase requests a customer's erasure (docs/security.md). Registered behind
// personal, which checks the token; unlike the reads of personal data it is
// refused when no token is configured, so that no anonymous caller can
// delete a customer.
func (s *server) erase(w http.ResponseWriter, r *http.Request) {
	if len(s.tokenSums) == 0 {
		writeError(w, http.StatusForbidden, "erasure needs authentication: start serve with -api-token or -api-token-file")
		return
	}
	id := r.PathValue("id")
	if err := event.ValidID(id, event.DefaultMaxIDLen); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	parts, err := s.st.Erasures.RequestErasure(r.Context(), id)
	if err != nil {
		s.log.Warn().Err(err).Msg("erasure request failed")
		writeError(w, http.StatusServiceUnavailable, "redis: "+err.Error())
		return
	}
	resp := ErasureResponse{CustomerID: id, Status: "requested", Partitions: parts}
	if len(parts) == 0 {
		resp.Status, resp.Partitions = "nothing", []int{}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	writeJSON(w, http.StatusAccepted, resp)
}
