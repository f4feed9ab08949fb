package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
	"github.com/trestlehq/trestle/store"
)

// Codes in extensions.code of the errors Trestle itself raises.
const (
	CodeUpstreamUnavailable  = "UPSTREAM_UNAVAILABLE"
	CodeUpstreamTimeout      = "UPSTREAM_TIMEOUT"
	CodeUpstreamRateLimited  = "UPSTREAM_RATE_LIMITED"
	CodeUpstreamBadResponse  = "UPSTREAM_BAD_RESPONSE"
	CodeUpstreamUnauthorized = "UPSTREAM_UNAUTHORIZED"
	CodeBadUserInput         = "BAD_USER_INPUT"
	CodeStoreUnavailable     = "STORE_UNAVAILABLE"
	CodeInternal             = "INTERNAL_SERVER_ERROR"
)

// ErrNoStore answers what reads the reporting store in a gateway without
// one.
var ErrNoStore = errors.New("no reporting store is open: set store.path in the config (see the start-up log for why one did not open)")

func badInput(format string, args ...any) error {
	return model.InputError{Msg: fmt.Sprintf(format, args...)}
}

// ErrorPresenter maps every error a resolver returns to a GraphQL error with
// extensions.code, in this one place. Upstream failures also name their
// source system. Messages of unexpected errors are logged, not sent: they
// may hold upstream details.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Extensions["code"] != nil {
			return gerr // parse and validation errors already carry their code
		}
		var up *rest.Error
		var in model.InputError
		switch {
		case errors.As(err, &up):
			gerr.Message = up.Error()
			setExt(gerr, "code", upstreamCode(up))
			setExt(gerr, "source", string(up.System))
			if up.RetryAfter > 0 {
				setExt(gerr, "retryAfterSeconds", int(math.Ceil(up.RetryAfter.Seconds())))
			}
		case errors.As(err, &in):
			gerr.Message = in.Msg
			setExt(gerr, "code", CodeBadUserInput)
		case errors.Is(err, model.ErrBadID):
			gerr.Message = "the id is not a Trestle global ID"
			setExt(gerr, "code", CodeBadUserInput)
		case errors.Is(err, store.ErrReport):
			gerr.Message = strings.TrimPrefix(gerr.Message, "report: ")
			setExt(gerr, "code", CodeBadUserInput)
		case errors.Is(err, ErrNoStore):
			gerr.Message = err.Error()
			setExt(gerr, "code", CodeStoreUnavailable)
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			gerr.Message = "the request was cancelled or ran out of time"
			setExt(gerr, "code", CodeUpstreamTimeout)
		default:
			logger.ErrorContext(ctx, "resolver failed", "path", gerr.Path.String(), "err", err)
			gerr.Message = "internal error"
			setExt(gerr, "code", CodeInternal)
		}
		return gerr
	}
}

func upstreamCode(e *rest.Error) string {
	switch {
	case e.Timeout:
		return CodeUpstreamTimeout
	case errors.Is(e, rest.ErrRateLimited):
		return CodeUpstreamRateLimited
	case errors.Is(e, rest.ErrBadResponse):
		return CodeUpstreamBadResponse
	case errors.Is(e, rest.ErrUnauthorized):
		return CodeUpstreamUnauthorized
	default:
		return CodeUpstreamUnavailable
	}
}

func setExt(e *gqlerror.Error, key string, v any) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[key] = v
}
