package hubspot

import (
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// The request and response bodies of the contacts API, as named in HubSpot's
// OpenAPI description.

// batchReadInput is BatchReadInputSimplePublicObjectId.
type batchReadInput struct {
	Inputs                []objectID `json:"inputs"`
	Properties            []string   `json:"properties"`
	PropertiesWithHistory []string   `json:"propertiesWithHistory"`
	IDProperty            string     `json:"idProperty,omitempty"`
}

// objectID is SimplePublicObjectId.
type objectID struct {
	ID string `json:"id"`
}

// batchResponse is BatchResponseSimplePublicObject(WithErrors). The errors
// of a 207 only name inputs that were not found, so they are not decoded.
type batchResponse struct {
	Status  string   `json:"status"`
	Results []object `json:"results"`
}

// listPage is CollectionResponseSimplePublicObjectWithAssociationsForwardPaging.
type listPage struct {
	Results []object `json:"results"`
	Paging  *paging  `json:"paging"`
}

// searchRequest is PublicObjectSearchRequest.
type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Sorts        []searchSort  `json:"sorts"`
	Properties   []string      `json:"properties"`
	Limit        int           `json:"limit"`
	After        string        `json:"after"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

// searchSort is the object form of a search sort, which the live API takes in
// place of the plain property names the OpenAPI file lists.
type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// searchResponse is CollectionResponseWithTotalSimplePublicObject.
type searchResponse struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  *paging  `json:"paging"`
}

type paging struct {
	Next struct {
		After string `json:"after"`
	} `json:"next"`
}

// object is SimplePublicObject with the contact properties the client asks
// for. A property HubSpot has no value for comes as null and stays "".
type object struct {
	ID         string `json:"id"`
	Properties struct {
		Email            string `json:"email"`
		FirstName        string `json:"firstname"`
		LastName         string `json:"lastname"`
		Phone            string `json:"phone"`
		Company          string `json:"company"`
		LifecycleStage   string `json:"lifecyclestage"`
		OwnerID          string `json:"hubspot_owner_id"`
		CreateDate       string `json:"createdate"`
		LastModifiedDate string `json:"lastmodifieddate"`
	} `json:"properties"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Archived  bool      `json:"archived"`
}

// updatedAt is when the contact last changed: the object's updatedAt, or its
// lastmodifieddate property should the former be missing.
func (o *object) updatedAt() time.Time {
	if !o.UpdatedAt.IsZero() {
		return o.UpdatedAt.UTC()
	}
	return parseTime(o.Properties.LastModifiedDate)
}

func (o *object) createdAt() time.Time {
	if !o.CreatedAt.IsZero() {
		return o.CreatedAt.UTC()
	}
	return parseTime(o.Properties.CreateDate)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func (o *object) contact() model.Contact {
	p := &o.Properties
	return model.Contact{
		ID:             o.ID,
		Email:          p.Email,
		FirstName:      p.FirstName,
		LastName:       p.LastName,
		Phone:          p.Phone,
		Company:        p.Company,
		LifecycleStage: p.LifecycleStage,
		OwnerID:        p.OwnerID,
		CreatedAt:      o.createdAt(),
		UpdatedAt:      o.updatedAt(),
	}
}

func mapAll(objs []object) []model.Contact {
	out := make([]model.Contact, len(objs))
	for i := range objs {
		out[i] = objs[i].contact()
	}
	return out
}
