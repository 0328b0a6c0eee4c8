package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"unicode"
)

// dims is the size of the store's embeddings.
const dims = 256

// document is one passage in the store.
type document struct {
	ID, Collection, Title, Text string
	vec                         []float64
}

// store is a tiny in-process vector store: documents embedded with hashed
// bag-of-words vectors, searched by cosine similarity. It stands in for a real
// one; the guard does not care which.
type store struct {
	docs []document
}

func newStore(docs []document) *store {
	s := &store{}
	for _, d := range docs {
		d.vec = embed(d.Title + " " + d.Text)
		s.docs = append(s.docs, d)
	}
	return s
}

// embed maps text to a unit vector: each word adds one to the dimension its
// hash picks.
func embed(text string) []float64 {
	v := make([]float64, dims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%dims]++
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range v {
			v[i] /= norm
		}
	}
	return v
}

func cosine(a, b []float64) float64 {
	var dot float64
	for i := range a {
		dot += a[i] * b[i]
	}
	return dot
}

// query is the search tool's input. Policy sees it as args.query, args.k and
// args.collection.
type query struct {
	Query      string `json:"query"`
	Collection string `json:"collection"`
	K          int    `json:"k"`
}

// hit is one passage the search returns: what the model sees.
type hit struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Score float64 `json:"score"`
	Text  string  `json:"text"`
}

type hits struct {
	Hits []hit `json:"hits"`
}

// search is the plain tool: the k passages of the collection closest to the
// query.
func (s *store) search(_ context.Context, q query) (hits, error) {
	if q.K <= 0 {
		return hits{}, fmt.Errorf("k must be positive")
	}
	qv := embed(q.Query)
	var out []hit
	for _, d := range s.docs {
		if d.Collection == q.Collection {
			out = append(out, hit{ID: d.ID, Title: d.Title, Score: math.Round(cosine(qv, d.vec)*1000) / 1000, Text: d.Text})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if len(out) > q.K {
		out = out[:q.K]
	}
	return hits{Hits: out}, nil
}

// corpus is the store's content.
var corpus = []document{
	{ID: "p1", Collection: "papers", Title: "Energy density of drone batteries",
		Text: "Lithium-ion cells store about 250 Wh per kg, which bounds how far a battery drone can fly."},
	{ID: "p2", Collection: "papers", Title: "Wind and multirotor range",
		Text: "Headwind raises power draw; a 10 m/s wind can halve a quadcopter's range."},
	{ID: "p3", Collection: "papers", Title: "Lithium-sulfur cells",
		Text: "Lithium-sulfur promises 500 Wh per kg but loses capacity over few cycles."},
	{ID: "n1", Collection: "notes", Title: "Field test notes",
		Text: "Our drone flew 11 km in calm air and 6 km in strong wind."},
	{ID: "h1", Collection: "hr", Title: "Salary bands 2026",
		Text: "Confidential: engineering salary bands by level."},
}
