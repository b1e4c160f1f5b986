package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	commands    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	clients     prometheus.Gauge
	accepted    prometheus.Counter
	rejected    prometheus.Counter
	protoErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "talos", Subsystem: "server", Name: "commands_total",
			Help: "Commands processed, by command name.",
		}, []string{"cmd"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "talos", Subsystem: "server", Name: "command_errors_total",
			Help: "Commands answered with an error reply, by command name.",
		}, []string{"cmd"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "talos", Subsystem: "server", Name: "command_duration_seconds",
			Help:    "Time to execute a command (excluding network), by command name.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}, []string{"cmd"}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "talos", Subsystem: "server", Name: "connected_clients",
			Help: "Client connections currently open.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "talos", Subsystem: "server", Name: "connections_total",
			Help: "Client connections accepted.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "talos", Subsystem: "server", Name: "rejected_connections_total",
			Help: "Client connections refused because MaxClients were open.",
		}),
		protoErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "talos", Subsystem: "server", Name: "protocol_errors_total",
			Help: "Connections closed for malformed or oversized requests.",
		}),
	}
	for _, c := range []prometheus.Collector{m.commands, m.errors, m.latency, m.clients, m.accepted, m.rejected, m.protoErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
