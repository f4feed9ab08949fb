package world

import (
	"slices"
	"strings"
	"time"
)

// Word lists for generated names. Small on purpose: collisions between people
// with the same name are part of the mess a join has to survive.
var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas",
		"Karla", "Lukas", "Mia", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Samuel", "Tara",
		"Ulrich", "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Amir", "Bea", "Carlos", "Dana",
		"Elif", "Finn", "Gina", "Hugo", "Ines", "Jakob", "Kim", "Lea", "Marek", "Nora"}
	lastNames = []string{"Schmidt", "Müller", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf",
		"Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Meier",
		"Lehmann", "Huber", "Kaiser", "Fuchs", "Peters", "Scholz", "Möller", "Jung", "Hahn", "Vogel",
		"Keller", "Frank", "Berger", "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Winter"}
	companyStems    = []string{"Nordlicht", "Alpen", "Rhein", "Havel", "Spree", "Elbe", "Isar", "Main", "Ostsee", "Harz", "Taunus", "Eifel"}
	companySuffixes = []string{"GmbH", "AG", "KG", "Handel GmbH", "Technik GmbH", "Logistik AG", "& Co. KG"}
	mailDomains     = []string{"example.com", "example.org", "example.net", "mail.example", "post.example"}
	crmOwners       = []string{"41234501", "41234502", "41234503", "41234504", "41234505"}
	adjectives      = []string{"Classic", "Compact", "Deluxe", "Eco", "Heavy-Duty", "Light", "Modular", "Pro", "Smart", "Ultra", "Vintage", "Rugged"}
	itemGroups      = []string{"Products", "Tools", "Kitchen", "Garden", "Office"}
	itemNouns       = map[string][]string{
		"Products": {"Backpack", "Water Bottle", "Travel Mug", "Lamp", "Blanket"},
		"Tools":    {"Screwdriver Set", "Cordless Drill", "Spirit Level", "Tool Box", "Hammer"},
		"Kitchen":  {"Chef's Knife", "Cutting Board", "Skillet", "Coffee Grinder", "Teapot"},
		"Garden":   {"Hose Reel", "Pruning Shears", "Planter", "Watering Can", "Garden Bench"},
		"Office":   {"Desk Organizer", "Notebook", "Monitor Stand", "Desk Chair", "Whiteboard"},
	}
)

// mixCase capitalises the parts of an address the way people type them:
// "anna.schmidt@example.com" becomes "Anna.Schmidt@Example.com".
func mixCase(email string) string {
	b := []byte(email)
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '.' || c == '@'
	}
	s := string(b)
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		s = s[:i] + strings.ToLower(s[i:])
	}
	return s
}

// pickWeighted chooses by cumulative weight for r in [0, 1).
func pickWeighted(r float64, choices []string, weights []float64) string {
	for i, w := range weights {
		if r < w {
			return choices[i]
		}
		r -= w
	}
	return choices[len(choices)-1]
}

func sortTimes(ts []time.Time) { slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) }) }

func sortInvoices(invs []*Invoice) {
	slices.SortFunc(invs, func(a, b *Invoice) int { return strings.Compare(a.Name, b.Name) })
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
