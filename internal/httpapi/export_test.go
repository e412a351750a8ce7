package httpapi

// StatusPageMetrics are the metric names the status page reads.
var StatusPageMetrics = statusPageMetrics
