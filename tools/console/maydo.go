package console

import (
	"context"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy/access"
)

// maxAnalysed bounds the identities the identities page analyses against the
// policy on one view.
const maxAnalysed = 200

// mayDo is what the policy lets an identity call (package policy/access, from
// the policy alone): each tool, and whether a permit asks for approval.
type mayDo struct {
	Tool     string
	Approval bool
	Conds    int // clauses the permits still ask of arguments, request or grant
}

// claimsOf rebuilds the claims an audit record keeps of an identity, for the
// analysis: the record holds no token, only these claims.
func claimsOf(id *audit.Identity) *identity.Claims {
	raw := map[string]any{"iss": id.Issuer, "sub": id.Subject}
	set := func(k, v string) {
		if v != "" {
			raw[k] = v
		}
	}
	set("agent", id.Agent)
	set("tenant", id.Tenant)
	set("env", id.Env)
	set("scope", strings.Join(id.Scopes, " "))
	if id.ModelProvider != "" || id.ModelName != "" || id.ModelVersion != "" {
		raw["model"] = map[string]any{"provider": id.ModelProvider, "name": id.ModelName, "version": id.ModelVersion}
	}
	c, err := identity.UnsafeClaimsFromMap(raw)
	if err != nil {
		return nil
	}
	return c
}

// analyse fills each row's MayDo from Config.Policy, the tools the policy
// names and the tools the row was seen calling.
func (h *Handler) analyse(ctx context.Context, rows []identityRow) {
	if h.cfg.Policy == nil {
		return
	}
	for i := range rows[:min(len(rows), maxAnalysed)] {
		r := &rows[i]
		c := claimsOf(&r.Identity)
		if c == nil {
			continue
		}
		got, err := access.WhatCan(ctx, h.cfg.Policy, c, access.Tools(h.cfg.Policy, r.Tools...))
		if err != nil {
			r.AnalysisError = err.Error()
			continue
		}
		r.Analysed = true
		for _, a := range got {
			m := mayDo{Tool: a.Tool}
			for _, p := range a.Permits {
				m.Approval = m.Approval || slices.Contains(p.Require, "approval")
				m.Conds += len(p.Args) + len(p.Other)
			}
			r.MayDo = append(r.MayDo, m)
		}
	}
}
