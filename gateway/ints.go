package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// An Int is a 32-bit integer. gqlparser takes any 64-bit one for an Int,
// in a variable or written in a document (2^40 for first: went on to be
// refused as too complex, as if it were a count that made sense), and of
// 1.5 or 2^64 in a variable it says "cannot use value 0 as Int". These
// checks say what is wrong, as validation errors, as gqlgen's are.

const (
	intRange = "outside the 32-bit range of Int, -2147483648 to 2147483647"
	notWhole = " is not an Int, a whole number written without a fraction or an exponent"
)

// intVariables refuses a variable declared Int (or a list of Int) whose
// value is no Int. Only a request with a number that is not a 32-bit
// integer among its variables, which is rare, has its document parsed
// here to find the variables' types.
func intVariables(params *graphql.RawParams, tokenLimit int) *gqlerror.Error {
	if params.Query == "" || !anyNonInt(params.Variables) {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, tokenLimit)
	if err != nil {
		return nil // gqlgen's parser says why
	}
	op := doc.Operations.ForName(params.OperationName)
	if op == nil {
		return nil
	}
	for _, def := range op.VariableDefinitions {
		if def.Type.Name() != "Int" {
			continue
		}
		if problem := notInt(params.Variables[def.Variable], def.Type); problem != "" {
			err := gqlerror.ErrorPathf(ast.Path{ast.PathName("variable"), ast.PathName(def.Variable)}, "variable $%s: %s", def.Variable, problem)
			errcode.Set(err, errcode.ValidationFailed)
			return err
		}
	}
	return nil
}

// anyNonInt reports whether a variable's value holds a number that is
// not a 32-bit integer.
func anyNonInt(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if anyNonInt(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if anyNonInt(e) {
				return true
			}
		}
	case json.Number, float64, int, int64:
		return notInt(v, &ast.Type{NamedType: "Int"}) != ""
	}
	return false
}

// notInt says why a value given for a type whose named type is Int is
// not one; "" when it is, or when it is not a number (gqlgen says so).
func notInt(v any, t *ast.Type) string {
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return notInt(v, t.Elem) // one value stands for a list of it
		}
		for i, e := range list {
			if problem := notInt(e, t.Elem); problem != "" {
				return fmt.Sprintf("item %d: %s", i, problem)
			}
		}
		return ""
	}
	var text string
	switch n := v.(type) {
	case json.Number:
		text = n.String()
	case float64:
		if math.IsInf(n, 0) || math.IsNaN(n) || n != math.Trunc(n) {
			return strconv.FormatFloat(n, 'g', -1, 64) + notWhole
		}
		text = strconv.FormatFloat(n, 'f', -1, 64)
	case int:
		text = strconv.Itoa(n)
	case int64:
		text = strconv.FormatInt(n, 10)
	case string: // gqlgen takes an Int written as a string
		if _, err := strconv.ParseInt(n, 10, 64); err != nil {
			return ""
		}
		text = n
	default:
		return ""
	}
	_, err := strconv.ParseInt(text, 10, 32)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, strconv.ErrRange):
		return text + " is " + intRange
	}
	return text + notWhole
}

// intLiterals refuses an Int written in an operation, or in the fragments
// it spreads or its variables' defaults, outside the 32-bit range.
func intLiterals(op *ast.OperationDefinition) *gqlerror.Error {
	var found *gqlerror.Error
	var value func(what string, v *ast.Value)
	value = func(what string, v *ast.Value) {
		if v == nil || found != nil {
			return
		}
		if v.Kind == ast.IntValue && v.ExpectedType != nil && v.ExpectedType.Name() == "Int" {
			if _, err := strconv.ParseInt(v.Raw, 10, 32); err != nil {
				found = gqlerror.ErrorPosf(v.Position, "%s: %s is %s", what, v.Raw, intRange)
				errcode.Set(found, errcode.ValidationFailed)
			}
		}
		for _, c := range v.Children {
			value(what, c.Value)
		}
	}
	directives := func(list ast.DirectiveList) {
		for _, d := range list {
			for _, a := range d.Arguments {
				value("argument "+a.Name+" of @"+d.Name, a.Value)
			}
		}
	}
	spread := map[string]bool{}
	var set func(ast.SelectionSet)
	set = func(selections ast.SelectionSet) {
		for _, sel := range selections {
			switch s := sel.(type) {
			case *ast.Field:
				for _, a := range s.Arguments {
					value("argument "+a.Name, a.Value)
				}
				directives(s.Directives)
				set(s.SelectionSet)
			case *ast.InlineFragment:
				directives(s.Directives)
				set(s.SelectionSet)
			case *ast.FragmentSpread:
				directives(s.Directives)
				if s.Definition != nil && !spread[s.Name] {
					spread[s.Name] = true
					set(s.Definition.SelectionSet)
				}
			}
		}
	}
	for _, def := range op.VariableDefinitions {
		value("the default of $"+def.Variable, def.DefaultValue)
	}
	directives(op.Directives)
	set(op.SelectionSet)
	return found
}
