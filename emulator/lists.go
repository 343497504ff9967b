package emulator

import (
	"net/http"
	"net/url"
	"strconv"

	"nergateway/api"
)

// listBody is an authoring list page. nextLink is null on the last page,
// as in Azure's examples.
type listBody[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

// listPage answers one page of items: skip items are skipped, top caps how
// many are returned over all pages, and maxpagesize (default def) how many
// one page holds. nextLink keeps api-version and the client's page size.
func listPage[T any](c *call, items []T, def int) reply {
	q := c.r.URL.Query()
	top, skip, size := -1, 0, def
	for _, p := range []struct {
		names []string
		dst   *int
		min   int
	}{
		{[]string{"top", "$top"}, &top, 0},
		{[]string{"skip", "$skip"}, &skip, 0},
		{[]string{"maxpagesize", "$maxpagesize"}, &size, 1},
	} {
		for _, name := range p.names {
			v := q.Get(name)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < p.min {
				return failureInner(http.StatusBadRequest, api.CodeInvalidArgument,
					"Invalid parameter in request: "+name+" = '"+v+"'.", api.InnerInvalidParameterValue,
					name+" must be an integer of at least "+strconv.Itoa(p.min)+".")
			}
			*p.dst = n
		}
	}
	total := len(items)
	if top >= 0 {
		total = min(total, skip+top)
	}
	start := min(skip, len(items))
	end := max(start, min(start+size, total))
	body := listBody[T]{Value: append([]T{}, items[start:end]...)}
	if end < total {
		next := url.Values{"skip": {strconv.Itoa(end)}}
		if top >= 0 {
			next.Set("top", strconv.Itoa(top-(end-skip)))
		}
		if q.Get("maxpagesize") != "" || q.Get("$maxpagesize") != "" {
			next.Set("maxpagesize", strconv.Itoa(size))
		}
		link := c.url(c.r.URL.EscapedPath(), next)
		body.NextLink = &link
	}
	return respond(body)
}
