package hubspot

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "anna@example.com", "anna@example.com"},
		{"empty", "", ""},
		{"quotes and backslash", `say "hi" \o/`, `say "hi" \o/`},
		{"control characters", "a\nb\tc\r\x01\x1f", "a\nb\tc\r\x01\x1f"},
		{"non-ASCII", "jonas.müller@example.net ✓", "jonas.müller@example.net ✓"},
		{"invalid UTF-8", "a\xffb", "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendString(nil, tt.in)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s is not a JSON string: %v", b, err)
			}
			if got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
		})
	}
}
