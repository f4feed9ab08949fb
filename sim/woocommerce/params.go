package woocommerce

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// collection describes the query parameters one collection route accepts,
// as its controller's get_collection_params declares them.
type collection struct {
	orderbys     []string
	orderby      string // default
	order        string // default
	dates        bool   // after/before/modified_after/modified_before/dates_are_gmt
	statuses     []string
	status       string // default status, "" when the route has no status parameter
	multiStatus  bool   // status is an array (orders) rather than one value (products)
	stockStatus  bool
	sku          bool
	customer     bool // customer and product filters (orders)
	emailAndRole bool // customers
}

var (
	orderStatuses   = []string{"any", "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft", "trash"}
	productStatuses = []string{"any", "future", "trash", "draft", "pending", "private", "publish"}
	stockStatuses   = []string{"instock", "outofstock", "onbackorder"}
	roles           = []string{"all", "administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager"}
)

func ordersCollection() collection {
	return collection{
		orderbys: []string{"date", "id", "include", "title", "slug", "modified"},
		orderby:  "date", order: "desc", dates: true,
		statuses: orderStatuses, status: "any", multiStatus: true, customer: true,
	}
}

func productsCollection() collection {
	return collection{
		orderbys: []string{"date", "id", "include", "title", "slug", "modified", "price", "popularity", "rating", "menu_order"},
		orderby:  "date", order: "desc", dates: true,
		statuses: productStatuses, status: "any", stockStatus: true, sku: true,
	}
}

func customersCollection() collection {
	return collection{
		orderbys: []string{"id", "include", "name", "registered_date"},
		orderby:  "name", order: "asc", emailAndRole: true,
	}
}

// query is a validated collection request.
type query struct {
	page, perPage int
	offset        int // -1 when not given
	desc          bool
	orderby       string
	include       []int64
	exclude       []int64
	search        string

	after, before, modifiedAfter, modifiedBefore time.Time // zero when not given

	statuses    []string // nil or containing "any" means any
	customer    int64
	hasCustomer bool
	product     int64
	skus        []string
	stockStatus string
	email       string
	role        string
}

// window is the slice of the matching records the page shows.
func (q *query) window(total int) (from, to int) {
	from = (q.page - 1) * q.perPage
	if q.offset >= 0 {
		from = q.offset
	}
	from = min(from, total)
	return from, min(from+q.perPage, total)
}

// paramErrors collects invalid parameters the way WP_REST_Request::has_valid_params does.
type paramErrors struct {
	names, codes, messages []string
}

func (p *paramErrors) add(name, code, message string) {
	p.names = append(p.names, name)
	p.codes = append(p.codes, code)
	p.messages = append(p.messages, message)
}

// write answers 400 rest_invalid_param listing every bad parameter.
func (p *paramErrors) write(w http.ResponseWriter) {
	var e enc
	e.begin()
	e.str("code", "rest_invalid_param")
	e.str("message", "Invalid parameter(s): "+strings.Join(p.names, ", "))
	e.key("data")
	e.begin()
	e.int("status", http.StatusBadRequest)
	e.key("params")
	e.begin()
	for i, n := range p.names {
		e.str(n, p.messages[i])
	}
	e.end()
	e.key("details")
	e.begin()
	for i, n := range p.names {
		e.key(n)
		e.begin()
		e.str("code", p.codes[i])
		e.str("message", p.messages[i])
		e.null("data")
		e.end()
	}
	e.end()
	e.end()
	e.end()
	writeErrorBody(w, http.StatusBadRequest, string(e.b))
}

// parse validates the query string against the collection's parameters.
// Parameters a route does not declare are ignored, as WordPress does.
func (c collection) parse(v url.Values, loc *time.Location) (query, *paramErrors) {
	var errs paramErrors
	q := query{offset: -1}
	q.page = intParam(v, "page", 1, 1, 0, &errs)
	q.perPage = intParam(v, "per_page", 10, 1, 100, &errs)
	if v.Has("offset") {
		q.offset = intParam(v, "offset", 0, 0, 0, &errs)
	}
	q.desc = enumParam(v, "order", c.order, []string{"asc", "desc"}, &errs) == "desc"
	q.orderby = enumParam(v, "orderby", c.orderby, c.orderbys, &errs)
	q.include = idList(v, "include", &errs)
	q.exclude = idList(v, "exclude", &errs)
	q.search = strings.TrimSpace(v.Get("search"))

	if c.dates {
		gmt := boolParam(v, "dates_are_gmt", &errs)
		zone := loc
		if gmt {
			zone = time.UTC
		}
		q.after = dateParam(v, "after", zone, &errs)
		q.before = dateParam(v, "before", zone, &errs)
		q.modifiedAfter = dateParam(v, "modified_after", zone, &errs)
		q.modifiedBefore = dateParam(v, "modified_before", zone, &errs)
	}
	if c.status != "" {
		if c.multiStatus {
			for i, s := range listParam(v, "status") {
				if !slices.Contains(c.statuses, s) {
					errs.add("status", "rest_not_in_enum", "status["+strconv.Itoa(i)+"] is not one of "+wpList(c.statuses)+".")
					continue
				}
				q.statuses = append(q.statuses, s)
			}
		} else {
			q.statuses = []string{enumParam(v, "status", c.status, c.statuses, &errs)}
		}
	}
	if c.stockStatus && v.Get("stock_status") != "" {
		q.stockStatus = enumParam(v, "stock_status", "", stockStatuses, &errs)
	}
	if c.sku {
		q.skus = listParam(v, "sku")
	}
	if c.customer {
		if v.Has("customer") {
			q.hasCustomer = true
			q.customer = int64(intParam(v, "customer", 0, 0, 0, &errs))
		}
		if v.Has("product") {
			q.product = int64(intParam(v, "product", 0, 0, 0, &errs))
		}
	}
	if c.emailAndRole {
		if s := v.Get("email"); s != "" {
			if !plausibleEmail(s) {
				errs.add("email", "rest_invalid_email", "Invalid email address.")
			}
			q.email = s
		}
		q.role = enumParam(v, "role", "customer", roles, &errs)
	}
	if len(errs.names) > 0 {
		return q, &errs
	}
	return q, nil
}

func intParam(v url.Values, name string, def, lo, hi int, errs *paramErrors) int {
	s := v.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		errs.add(name, "rest_invalid_type", name+" is not of type integer.")
		return def
	case hi > 0 && (n < lo || n > hi):
		errs.add(name, "rest_out_of_bounds", name+" must be between "+strconv.Itoa(lo)+" (inclusive) and "+strconv.Itoa(hi)+" (inclusive)")
		return def
	case n < lo:
		errs.add(name, "rest_out_of_bounds", name+" must be greater than or equal to "+strconv.Itoa(lo))
		return def
	}
	return n
}

func enumParam(v url.Values, name, def string, allowed []string, errs *paramErrors) string {
	s := v.Get(name)
	if s == "" {
		return def
	}
	if !slices.Contains(allowed, s) {
		errs.add(name, "rest_not_in_enum", name+" is not one of "+wpList(allowed)+".")
		return def
	}
	return s
}

// boolParam reads a boolean the way rest_is_boolean does.
func boolParam(v url.Values, name string, errs *paramErrors) bool {
	switch strings.ToLower(v.Get(name)) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	errs.add(name, "rest_invalid_type", name+" is not of type boolean.")
	return false
}

// listParam reads an array parameter given as a comma list or as name[]=...
func listParam(v url.Values, name string) []string {
	var out []string
	for _, raw := range append(v[name], v[name+"[]"]...) {
		for s := range strings.SplitSeq(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func idList(v url.Values, name string, errs *paramErrors) []int64 {
	items := listParam(v, name)
	if len(items) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(items))
	for i, s := range items {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs.add(name, "rest_invalid_type", name+"["+strconv.Itoa(i)+"] is not of type integer.")
			return nil
		}
		if id > 0 && !slices.Contains(ids, id) { // wp_parse_id_list drops zeros and repeats
			ids = append(ids, id)
		}
	}
	return ids
}

// dateParam reads an RFC 3339 date-time. Without a zone designator it is a
// wall-clock time in zone: the site timezone, or UTC with dates_are_gmt.
func dateParam(v url.Values, name string, zone *time.Location, errs *paramErrors) time.Time {
	s := v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, ok := parseDate(s, zone)
	if !ok {
		errs.add(name, "rest_invalid_date", "Invalid date.")
	}
	return t
}

func parseDate(s string, zone *time.Location) (time.Time, bool) {
	if len(s) < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return time.Time{}, false
	}
	wall := s[:10] + "T" + s[11:19]
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	switch {
	case rest == "":
		t, err := time.ParseInLocation("2006-01-02T15:04:05", wall, zone)
		return t, err == nil
	case rest == "Z" || rest == "z":
		t, err := time.ParseInLocation("2006-01-02T15:04:05", wall, time.UTC)
		return t, err == nil
	default:
		t, err := time.Parse("2006-01-02T15:04:05-07:00", wall+normalizeOffset(rest))
		return t, err == nil
	}
}

// normalizeOffset turns "+01", "+0100" and "+01:00" into "+01:00".
func normalizeOffset(s string) string {
	switch len(s) {
	case 3:
		return s + ":00"
	case 5:
		return s[:3] + ":" + s[3:]
	}
	return s
}

// plausibleEmail is a small stand-in for WordPress's is_email().
func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") &&
		!strings.ContainsAny(s, " \t\r\n") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// wpList formats a list as wp_sprintf's %l does: "a, b, and c".
func wpList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	case 2:
		return items[0] + " and " + items[1]
	}
	return strings.Join(items[:len(items)-1], ", ") + ", and " + items[len(items)-1]
}
