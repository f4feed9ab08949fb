// Package hubspot reads contacts from HubSpot's CRM v3 API: many at once by id
// or e-mail through batch/read, paged lists, and changed-since reads through
// search for polling. Records are mapped into graph/model.
package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

// HubSpot's limits on the calls the client makes.
const (
	batchSize  = 100    // inputs in one batch/read
	pageSize   = 100    // limit on one list page
	searchPage = 200    // limit on one search page
	searchCap  = 10_000 // results one search query can page through
)

// defaultMax bounds a changed-since read when the caller gives no bound.
const defaultMax = 1000

const contactsPath = "/crm/v3/objects/contacts"

// contactProperties are the contact properties the client asks for.
func contactProperties() []string {
	return []string{"email", "firstname", "lastname", "phone", "company", "lifecyclestage", "hubspot_owner_id", "createdate", "lastmodifieddate"}
}

// Config configures a Client.
type Config struct {
	BaseURL string // https://api.hubapi.com, or a simulator's root
	Token   string // a private app access token
	// Timeout bounds each call. Default 10 s.
	Timeout time.Duration
	// MaxConns bounds the connections to HubSpot. Default 64.
	MaxConns int
	// Policy copes with failures and limits (see rest.Policy).
	Policy rest.Policy
	// Observe is told of every call (see rest.Config).
	Observe func(system model.System, route, outcome string, took time.Duration)
	// Parallel bounds the calls one read sends at once. Default 4: the
	// ten-secondly rate limit is shared by every caller of the account.
	Parallel int
}

// Client reads contacts from one HubSpot account.
type Client struct {
	rest     *rest.Client
	parallel int
}

// New checks the config and builds a client.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.Token == "" {
		errs = append(errs, errors.New("access token is required"))
	}
	if cfg.Parallel < 0 {
		errs = append(errs, fmt.Errorf("parallel %d must not be negative", cfg.Parallel))
	}
	policy := cfg.Policy
	if policy.RateLimit == 0 {
		limit := config.DefaultSource("hubspot").RateLimit
		policy.RateLimit, policy.RatePer = limit.Requests, limit.Per
	}
	rc, err := rest.New(rest.Config{
		System:    model.SystemCRM,
		BaseURL:   cfg.BaseURL,
		Auth:      rest.Bearer(cfg.Token),
		Timeout:   cfg.Timeout,
		MaxConns:  cfg.MaxConns,
		Policy:    policy,
		Observe:   cfg.Observe,
		RetryHint: retryHint,
		Probe:     probeCall,
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("hubspot config: %w", err)
	}
	parallel := cfg.Parallel
	if parallel == 0 {
		parallel = 4
	}
	return &Client{rest: rc, parallel: parallel}, nil
}

// Close ends the background probes of an open breaker and releases idle
// connections.
func (c *Client) Close() { c.rest.Close() }

// BreakerOpen reports whether calls fail fast for now, the upstream having
// failed repeatedly.
func (c *Client) BreakerOpen() bool { return c.rest.BreakerOpen() }

// retryHint reads HubSpot's rate-limit headers on a 429 that carries no
// Retry-After: with the rolling window spent, wait one window. Otherwise a
// per-second policy refused the call (search answers without these headers
// and is limited per second), so wait a second.
func retryHint(h http.Header) time.Duration {
	remaining, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Remaining"))
	if err != nil {
		return time.Second
	}
	interval, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds"))
	if err != nil || interval <= 0 {
		return time.Second
	}
	if remaining > 0 {
		return time.Second
	}
	return time.Duration(interval) * time.Millisecond
}

// Contacts reads the contacts with the given ids. Ids HubSpot does not know
// are absent from the result, which comes in no particular order. Ids go in
// batches of 100, sent concurrently.
func (c *Client) Contacts(ctx context.Context, ids []string) ([]model.Contact, error) {
	out, err := c.batchRead(ctx, "contacts.batch_read", unique(ids, nil), "")
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	return out, nil
}

// ContactsByEmail reads the contacts with the given e-mail addresses, which
// are matched trimmed and case-insensitively, as HubSpot stores them in lower
// case. Addresses HubSpot does not know are absent from the result, which
// comes in no particular order.
func (c *Client) ContactsByEmail(ctx context.Context, emails []string) ([]model.Contact, error) {
	out, err := c.batchRead(ctx, "contacts.batch_read_email", unique(emails, model.NormalizeEmail), "email")
	if err != nil {
		return nil, fmt.Errorf("read contacts by e-mail: %w", err)
	}
	return out, nil
}

func (c *Client) batchRead(ctx context.Context, route string, keys []string, idProperty string) ([]model.Contact, error) {
	props := contactProperties()
	return rest.FanOut(ctx, keys, batchSize, c.parallel, func(ctx context.Context, chunk []string) ([]model.Contact, error) {
		in := batchReadInput{
			Inputs:                make([]objectID, len(chunk)),
			Properties:            props,
			PropertiesWithHistory: []string{},
			IDProperty:            idProperty,
		}
		for i, k := range chunk {
			in.Inputs[i].ID = k
		}
		var resp batchResponse
		// 207 is a partial result: the errors name inputs that do not exist,
		// which the caller sees as absent.
		if _, err := c.rest.Do(ctx, rest.Call{Route: route, Method: http.MethodPost, Read: true, Path: contactsPath + "/batch/read", Body: in, Accept: []int{http.StatusMultiStatus}}, &resp); err != nil {
			return nil, err
		}
		return mapAll(resp.Results), nil
	})
}

// ListContacts walks the contact list in HubSpot's order (ascending id) from
// the cursor after ("" for the start), and stops after limit contacts. next is
// the cursor to continue from, "" when the list is exhausted.
func (c *Client) ListContacts(ctx context.Context, after string, limit int) (contacts []model.Contact, next string, err error) {
	next = after
	props := strings.Join(contactProperties(), ",")
	for len(contacts) < limit {
		q := url.Values{"limit": {strconv.Itoa(min(pageSize, limit-len(contacts)))}, "properties": {props}}
		if next != "" {
			q.Set("after", next)
		}
		var pg listPage
		if _, err := c.rest.Do(ctx, rest.Call{Route: "contacts.list", Path: contactsPath, Query: q}, &pg); err != nil {
			return nil, "", fmt.Errorf("list contacts: %w", err)
		}
		contacts = append(contacts, mapAll(pg.Results)...)
		if pg.Paging == nil || pg.Paging.Next.After == "" {
			return contacts, "", nil
		}
		if pg.Paging.Next.After == next {
			return nil, "", fmt.Errorf("list contacts: cursor %q did not advance", next)
		}
		next = pg.Paging.Next.After
	}
	return contacts, next, nil
}

// ContactsModifiedSince reads up to limit contacts last modified at or after
// since, oldest change first, for polling; limit <= 0 means 1000. The caller
// passes the UpdatedAt of the last contact it saw as the next since (and sees
// that contact again).
//
// HubSpot's search pages by offset, and through at most 10,000 results of one
// query; offsets also shift when a contact changes during the walk. So each
// page is a new query from the newest modification time read so far, with
// contacts already returned dropped. An offset is used only to step over a
// full page of contacts that share one timestamp.
func (c *Client) ContactsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Contact, error) {
	if limit <= 0 {
		limit = defaultMax
	}
	from := since
	var out []model.Contact
	seen := map[string]bool{}
	offset := 0
	for len(out) < limit {
		var resp searchResponse
		body := modifiedSince(since, offset, min(searchPage, limit))
		if _, err := c.rest.Do(ctx, rest.Call{Route: "contacts.search_modified", Method: http.MethodPost, Read: true, Path: contactsPath + "/search", Body: body}, &resp); err != nil {
			return nil, fmt.Errorf("read contacts modified since %s: %w", from.UTC().Format(time.RFC3339), err)
		}
		for _, o := range resp.Results {
			if !seen[o.ID] && len(out) < limit {
				seen[o.ID] = true
				out = append(out, o.contact())
			}
		}
		if resp.Paging == nil || resp.Paging.Next.After == "" || len(resp.Results) == 0 {
			return out, nil
		}
		if last := resp.Results[len(resp.Results)-1].updatedAt(); last.After(since) {
			since, offset = last, 0
		} else {
			offset += len(resp.Results)
			if offset >= searchCap {
				return nil, fmt.Errorf("read contacts modified since %s: more than %d contacts changed at %s",
					from.UTC().Format(time.RFC3339), searchCap, since.UTC().Format(time.RFC3339Nano))
			}
		}
	}
	return out, nil
}

// CountContactsModifiedAfter is how many contacts were last modified after
// the given time (to the millisecond): the total of a search with
// ContactsModifiedSince's filter and a page of one, one call. The total
// counts every match, past the 10,000 a search can page through.
func (c *Client) CountContactsModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	var resp searchResponse
	// The filter is GTE in whole milliseconds: the next one is after.
	body := modifiedSince(after.Add(time.Millisecond), 0, 1)
	if _, err := c.rest.Do(ctx, rest.Call{Route: "contacts.count_modified", Method: http.MethodPost, Read: true, Path: contactsPath + "/search", Body: body}, &resp); err != nil {
		return 0, fmt.Errorf("count contacts modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	if resp.Total < len(resp.Results) {
		return 0, fmt.Errorf("count contacts modified after %s: %w", after.UTC().Format(time.RFC3339),
			&rest.Error{System: model.SystemCRM, Route: "contacts.count_modified", Class: rest.ErrBadResponse, Status: http.StatusOK, Detail: "no search total"})
	}
	return resp.Total, nil
}

func modifiedSince(since time.Time, offset, limit int) searchRequest {
	return searchRequest{
		FilterGroups: []filterGroup{{Filters: []filter{{
			PropertyName: "lastmodifieddate",
			Operator:     "GTE",
			Value:        strconv.FormatInt(since.UnixMilli(), 10),
		}}}},
		Sorts:      []searchSort{{PropertyName: "lastmodifieddate", Direction: "ASCENDING"}},
		Properties: contactProperties(),
		Limit:      limit,
		After:      strconv.Itoa(offset),
	}
}

// unique drops repeated and empty keys, normalising them first when norm is
// set, and keeps the first-seen order.
func unique(keys []string, norm func(string) string) []string {
	out := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if norm != nil {
			k = norm(k)
		}
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// Probe lists one contact with the configured token, once, to show that the
// base URL is HubSpot's API and that the token may read contacts. It returns
// nil or a *rest.ProbeError saying what is wrong.
func (c *Client) Probe(ctx context.Context) error { return c.rest.Probe(ctx, probeCall()) }

// probeCall is the probe, with a fresh answer to decode into.
func probeCall() rest.ProbeCall {
	var page struct {
		Results []json.RawMessage `json:"results"`
	}
	return rest.ProbeCall{
		Call:         rest.Call{Route: "probe", Path: contactsPath, Query: url.Values{"limit": {"1"}}},
		Out:          &page,
		Valid:        func() bool { return page.Results != nil },
		NotFound:     "not the HubSpot API here",
		Unauthorized: "the private app token is refused",
		Forbidden:    "the private app token lacks the crm.objects.contacts.read scope",
		NotAPI:       "not the HubSpot API here",
	}
}
