// Package sources opens the adapters of the three upstream systems from the
// config: sources/woocommerce for the shop, sources/hubspot for the CRM and
// sources/erpnext for the ERP, each over the shared client in sources/rest.
package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/hubspot"
	"github.com/trestlehq/trestle/sources/rest"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

// Set is the three upstream adapters.
type Set struct {
	Shop *woocommerce.Client
	CRM  *hubspot.Client
	ERP  *erpnext.Client
}

// wooNamespace is where a WordPress site serves the WooCommerce REST API.
const wooNamespace = "/wp-json/wc/v3"

// Open builds the adapters. Each source's url is the system's site root.
// observe, when set, is told of every upstream call.
func Open(cfg config.Sources, observe func(system model.System, route, outcome string, took time.Duration)) (*Set, error) {
	shop, errShop := woocommerce.New(woocommerce.Config{
		BaseURL:        strings.TrimSuffix(cfg.Shop.URL, "/") + wooNamespace,
		ConsumerKey:    cfg.Shop.ConsumerKey,
		ConsumerSecret: cfg.Shop.ConsumerSecret,
		Currency:       cfg.Shop.Currency,
		Timeout:        cfg.Shop.Timeout,
		MaxConns:       cfg.Shop.MaxConns,
		Policy:         policy(cfg.Shop),
		Observe:        observe,
	})
	crm, errCRM := hubspot.New(hubspot.Config{
		BaseURL:  cfg.CRM.URL,
		Token:    cfg.CRM.Token,
		Timeout:  cfg.CRM.Timeout,
		MaxConns: cfg.CRM.MaxConns,
		Policy:   policy(cfg.CRM),
		Observe:  observe,
	})
	erp, errERP := erpnext.New(erpnext.Config{
		BaseURL:   cfg.ERP.URL,
		APIKey:    cfg.ERP.APIKey,
		APISecret: cfg.ERP.APISecret,
		TimeZone:  cfg.ERP.TimeZone,
		Currency:  cfg.ERP.Currency,
		Timeout:   cfg.ERP.Timeout,
		MaxConns:  cfg.ERP.MaxConns,
		Policy:    policy(cfg.ERP),
		Observe:   observe,
	})
	if err := errors.Join(wrap("shop", errShop), wrap("crm", errCRM), wrap("erp", errERP)); err != nil {
		return nil, err
	}
	return &Set{Shop: shop, CRM: crm, ERP: erp}, nil
}

// policy is a source's retry, breaker and rate limit settings.
func policy(s config.Source) rest.Policy {
	return rest.Policy{
		Attempts: s.Retry.Attempts, Backoff: s.Retry.Backoff, MaxBackoff: s.Retry.MaxBackoff,
		RetryBudget: s.Retry.Budget, MaxRetryAfter: s.Retry.MaxRetryAfter,
		BreakerFailures: s.Breaker.Failures, BreakerOpen: s.Breaker.OpenFor,
		RateLimit: s.RateLimit.Requests, RatePer: s.RateLimit.Per,
	}
}

func wrap(role string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sources.%s: %w", role, err)
}

// Close ends the adapters' background probes and releases their idle
// connections.
func (s *Set) Close() {
	s.Shop.Close()
	s.CRM.Close()
	s.ERP.Close()
}

// Breakers tells, for each system, whether its circuit breaker is open.
func (s *Set) Breakers() map[model.System]func() bool {
	return map[model.System]func() bool{model.SystemShop: s.Shop.BreakerOpen,
		model.SystemCRM: s.CRM.BreakerOpen, model.SystemERP: s.ERP.BreakerOpen}
}

// Probe asks each upstream once, all three at the same time, for one record
// with the configured URL and credentials. The map holds every system: nil
// when it answered, else a *rest.ProbeError that names the URL asked, the
// HTTP status, what the answer means and the setting to check.
func (s *Set) Probe(ctx context.Context) map[model.System]error {
	probes := []struct {
		system model.System
		probe  func(context.Context) error
	}{{model.SystemShop, s.Shop.Probe}, {model.SystemCRM, s.CRM.Probe}, {model.SystemERP, s.ERP.Probe}}
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { errs[i] = withFix(p.system, p.probe(ctx)) })
	}
	wg.Wait()
	out := make(map[model.System]error, len(probes))
	for i, p := range probes {
		out[p.system] = errs[i]
	}
	return out
}

// settings are the config keys of a system that a failed probe points at:
// its url, what the url must be, and its credentials.
func settings(system model.System) (url, root, credentials string) {
	switch system {
	case model.SystemShop:
		return "sources.shop.url", "the site root (without " + wooNamespace + ")", "sources.shop.consumerKey and sources.shop.consumerSecret"
	case model.SystemCRM:
		return "sources.crm.url", "the API root, such as https://api.hubapi.com (without /crm/v3)", "sources.crm.token"
	default:
		return "sources.erp.url", "the site root (without /api/resource)", "sources.erp.apiKey and sources.erp.apiSecret"
	}
}

// withFix adds to a failed probe the setting that is likely wrong.
func withFix(system model.System, err error) error {
	var pe *rest.ProbeError
	if !errors.As(err, &pe) {
		return err
	}
	url, root, credentials := settings(system)
	switch {
	case errors.Is(pe, rest.ErrNotFound), errors.Is(pe, rest.ErrBadResponse) && pe.Status == http.StatusOK:
		pe.Fix = url + " must be " + root
	case errors.Is(pe, rest.ErrUnauthorized):
		pe.Fix = "check " + credentials
	case pe.Status >= 300 && pe.Status < 400:
		pe.Fix = "check " + url
	case pe.Timeout:
		pe.Fix = "check " + url + ", or raise " + strings.TrimSuffix(url, "url") + "timeout"
	case pe.Status == 0 && errors.Is(pe, rest.ErrUnavailable):
		pe.Fix = "check the host and port in " + url
	}
	return err
}
