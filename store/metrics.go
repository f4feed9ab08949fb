package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	storeRows     = prometheus.NewDesc("trestle_store_rows", "Rows the reporting store holds, by system and kind.", []string{"system", "kind"}, nil)
	storeRead     = prometheus.NewDesc("trestle_store_backfill_read", "Records the store's backfills have read, by system and kind.", []string{"system", "kind"}, nil)
	storeTotal    = prometheus.NewDesc("trestle_store_backfill_total", "Records the backfills will have read when the running one catches up, as the system counts them, by system and kind; absent when it does not say.", []string{"system", "kind"}, nil)
	storeLeft     = prometheus.NewDesc("trestle_store_backfill_eta_seconds", "An estimate of the time the running backfill needs to read the rest, by system and kind; absent when unknown or when none runs.", []string{"system", "kind"}, nil)
	storeCaughtUp = prometheus.NewDesc("trestle_store_watermark_timestamp_seconds", "Every change made before this time is in the store, by system and kind; absent while the first backfill runs.", []string{"system", "kind"}, nil)
	storeLag      = prometheus.NewDesc("trestle_store_change_lag_seconds", "How long after the upstream made it the last change was applied, by system and kind.", []string{"system", "kind"}, nil)
	storeQueued   = prometheus.NewDesc("trestle_store_changes_queued", "Changes received and not yet applied to the store.", nil, nil)
	storeFailing  = prometheus.NewDesc("trestle_store_sync_failing", "1 while the store's sync is stopped by a failure and trying again.", nil, nil)
)

// Describe and Collect export the sync's status to Prometheus, read when
// scraped.
func (*Syncer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeRows, storeRead, storeTotal, storeLeft, storeCaughtUp, storeLag, storeQueued, storeFailing} {
		ch <- d
	}
}

func (y *Syncer) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := y.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(storeRows, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, k := range st.Kinds {
		system, kind := string(k.System), string(k.Kind)
		gauge(storeRows, float64(k.Rows), system, kind)
		gauge(storeRead, float64(k.Done), system, kind)
		if k.Total > 0 {
			gauge(storeTotal, float64(k.Total), system, kind)
		}
		if k.Left > 0 {
			gauge(storeLeft, k.Left.Seconds(), system, kind)
		}
		if !k.CaughtUp.IsZero() {
			gauge(storeCaughtUp, float64(k.CaughtUp.UnixNano())/1e9, system, kind)
		}
		if k.LastChange != nil {
			gauge(storeLag, k.Lag().Seconds(), system, kind)
		}
	}
	gauge(storeQueued, float64(st.Queued))
	failing := 0.0
	if st.State == StateFailing {
		failing = 1
	}
	gauge(storeFailing, failing)
}
