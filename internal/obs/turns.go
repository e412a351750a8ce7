package obs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterTurnsWaited adds alsobought_background_turns_waited_seconds_total
// to reg: how long the consumer and the re-scorer have waited for a turn in
// Redis while the API read, as waited (store.Store.TurnsWaited) says.
func RegisterTurnsWaited(reg prometheus.Registerer, waited func() time.Duration) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "alsobought", Name: "background_turns_waited_seconds_total",
		Help: "Time the consumer and the re-scorer waited for a turn in Redis while the API read (-background-pipelines)."},
		func() float64 { return waited().Seconds() }))
}
