package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

const consoleAbout = `Console serves the operator console (package tools/console): the approvals
inbox and request pages over the PostgreSQL approval queue (-db or
$MODELGUARD_APPROVALS_DB), and, with -log, the session explorer and the
identities page over that audit log, each record proven against the log's
latest checkpoint signed by a -log-key.

People sign in with a token from -people-iss (keys in the JWK Set file
-people-keys, or fetched from -people-jwks) for the audience -aud, holding
the role "approver" or "viewer" in a "roles" or "role" claim; or, opt-in,
through an authenticating proxy's -proxy-header from the -proxy-from
addresses. Approvals are signed with -grant-key, the approvers' key, as
'approve grant' signs them. Every console action is recorded in the audit
log -record (a log no other process writes; signed with -record-key, a key
from 'audit keygen'). It listens on -addr (loopback by default), with TLS
when -tls-cert and -tls-key are given, until interrupted.`

// consoleFlags are the console command's settings.
type consoleFlags struct {
	queue                           queueFlags
	addr, base                      string
	peopleIss, peopleKeys, peopleJW string
	aud                             string
	grantKey, grantIss              string
	grantAud                        listFlag
	maxTTL, maxElev                 time.Duration
	logPath, record, recordKey      string
	logKeys                         listFlag
	proxyHeader, proxyRoles         string
	proxyFrom                       listFlag
	tlsCert, tlsKey                 string
	csrfSecret                      string
	policies                        listFlag
}

func runConsole(args []string, stdout, stderr io.Writer) int {
	c, code, ok := parseConsole(args, stdout, stderr)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, closeAll, err := c.build(ctx)
	if err != nil {
		return fail(stderr, "modelguard console", err)
	}
	defer closeAll()
	return exitIf(c.serve(ctx, h, stderr), stderr, "modelguard console")
}

// parseConsole reads the console's flags; ok false means stop with code.
func parseConsole(args []string, stdout, stderr io.Writer) (*consoleFlags, int, bool) {
	fset := newFlagSet("modelguard console", "-people-iss URL -people-keys JWKS -grant-key KEY -grant-iss URL -grant-aud AUD -record FILE [-db DSN] [-log LOG -log-key PUB] [flags]", consoleAbout)
	var c consoleFlags
	c.queue.register(fset)
	fset.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen `address`")
	fset.StringVar(&c.base, "base", "", "`path` the console is served under, such as /console")
	fset.StringVar(&c.peopleIss, "people-iss", "", "issuer `url` of the people's sign-in tokens")
	fset.StringVar(&c.peopleKeys, "people-keys", "", "JWK Set `file` of the sign-in issuer's public keys")
	fset.StringVar(&c.peopleJW, "people-jwks", "", "JWK Set `url` of the sign-in issuer (instead of -people-keys)")
	fset.StringVar(&c.aud, "aud", "modelguard-console", "the console's own `audience`")
	fset.StringVar(&c.grantKey, "grant-key", "", "the approvers' private JWK `file` that signs grants")
	fset.StringVar(&c.grantIss, "grant-iss", "", "grant issuer: the `url` guards trust for grants")
	fset.Var(&c.grantAud, "grant-aud", "`audience` of the guards that verify grants (repeatable)")
	fset.DurationVar(&c.maxTTL, "max-ttl", time.Hour, "longest expiry of a single-use grant")
	fset.DurationVar(&c.maxElev, "max-elevation", 30*time.Minute, "longest temporary elevation")
	fset.StringVar(&c.logPath, "log", "", "audit `log` the session explorer and identities pages read")
	fset.Var(&c.logKeys, "log-key", "verifier `key` (or file) of the log's checkpoints (repeatable)")
	fset.StringVar(&c.record, "record", "", "audit log `file` console actions are recorded in")
	fset.StringVar(&c.recordKey, "record-key", "", "private note key `file` signing -record's checkpoints")
	fset.StringVar(&c.proxyHeader, "proxy-header", "", "trust this `header` for the subject from -proxy-from")
	fset.StringVar(&c.proxyRoles, "proxy-roles-header", "", "`header` with the proxy user's roles")
	fset.Var(&c.proxyFrom, "proxy-from", "the proxy's addresses, a `CIDR` (repeatable)")
	fset.Var(&c.policies, "policy", "policy `file` the guards enforce: the identities page shows what it lets each identity call (repeatable)")
	fset.StringVar(&c.csrfSecret, "csrf-secret", "", "`file` of at least 32 bytes keying CSRF tokens; the same on every instance behind one load balancer (default: random)")
	fset.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate `file`")
	fset.StringVar(&c.tlsKey, "tls-key", "", "TLS private key `file`")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return nil, code, false
	}
	if err := errors.Join(noArgs(pos), requireFlags(fset, "people-iss", "grant-key", "grant-iss", "record")); err != nil {
		return nil, usageError(fset, stderr, "%v", err), false
	}
	if (c.peopleKeys == "") == (c.peopleJW == "") || len(c.grantAud) == 0 || (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, usageError(fset, stderr, "give one of -people-keys and -people-jwks, at least one -grant-aud, and -tls-cert with -tls-key"), false
	}
	if c.maxTTL <= 0 || c.maxElev <= 0 || c.maxElev > c.maxTTL {
		return nil, usageError(fset, stderr, "-max-ttl and -max-elevation must be positive, -max-elevation at most -max-ttl"), false
	}
	return &c, exitOK, true
}

// build opens the queue and the logs and returns the console handler; the
// returned func closes what it opened.
func (c *consoleFlags) build(ctx context.Context) (http.Handler, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	h, err := c.handler(ctx, func(f func()) { closers = append(closers, f) })
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return h, closeAll, nil
}

func (c *consoleFlags) handler(ctx context.Context, onClose func(func())) (http.Handler, error) {
	people, err := c.peopleVerifier()
	if err != nil {
		return nil, err
	}
	key, err := readPrivateKey(c.grantKey)
	if err != nil {
		return nil, err
	}
	grants, err := tools.NewGrantIssuer(c.grantIss, key, identity.IssuerOptions{TTL: c.maxTTL})
	if err != nil {
		return nil, err
	}
	cfg := console.Config{Verifier: people, Grants: grants, GrantAudience: c.grantAud, MaxGrantTTL: c.maxTTL,
		MaxElevationTTL: c.maxElev, BasePath: c.base}
	if cfg.Proxy, err = c.proxy(); err != nil {
		return nil, err
	}
	if len(c.policies) > 0 {
		if cfg.Policy, err = policy.Load(policy.Options{}, c.policies...); err != nil {
			return nil, err
		}
	}
	if c.csrfSecret != "" {
		if cfg.CSRFSecret, err = readLimited(c.csrfSecret, maxKeyFile); err != nil {
			return nil, fmt.Errorf("-csrf-secret: %w", err)
		}
	}
	if cfg.Audit, err = c.recordLog(onClose); err != nil {
		return nil, err
	}
	if c.logPath != "" {
		if cfg.Log, err = audit.OpenLog(c.logPath); err != nil {
			return nil, err
		}
		if cfg.LogKeys, err = loadKeys(c.logKeys); err != nil {
			return nil, err
		}
	}
	q, closeDB, err := c.queue.open(ctx)
	if err != nil {
		return nil, err
	}
	onClose(closeDB)
	cfg.Queue = q
	h, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	if c.base == "" {
		return h, nil
	}
	base := strings.TrimSuffix(c.base, "/")
	mux := http.NewServeMux()
	mux.Handle(base+"/", http.StripPrefix(base, h))
	return mux, nil
}

func (c *consoleFlags) peopleVerifier() (*identity.Verifier, error) {
	var keys identity.Keys
	var err error
	if c.peopleJW != "" {
		keys, err = identity.NewRemoteKeys(c.peopleJW, identity.RemoteKeysOptions{})
	} else {
		keys, err = identity.LoadKeySet(c.peopleKeys)
	}
	if err != nil {
		return nil, fmt.Errorf("sign-in keys: %w", err)
	}
	return identity.NewVerifier(c.peopleIss, c.aud, keys, identity.VerifierOptions{})
}

func (c *consoleFlags) proxy() (*console.ProxyAuth, error) {
	if c.proxyHeader == "" {
		if len(c.proxyFrom) > 0 || c.proxyRoles != "" {
			return nil, errors.New("-proxy-from and -proxy-roles-header need -proxy-header")
		}
		return nil, nil
	}
	p := &console.ProxyAuth{SubjectHeader: c.proxyHeader, RolesHeader: c.proxyRoles}
	for _, s := range c.proxyFrom {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("-proxy-from %q: want a CIDR such as 10.0.0.5/32", s)
		}
		p.From = append(p.From, pf)
	}
	if len(p.From) == 0 {
		return nil, errors.New("-proxy-header needs -proxy-from: the proxy's addresses")
	}
	return p, nil
}

func (c *consoleFlags) recordLog(onClose func(func())) (audit.Sink, error) {
	var opts audit.FileOptions
	if c.recordKey != "" {
		b, err := readLimited(c.recordKey, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-record-key: %w", err)
		}
		if opts.Signer, err = note.NewSigner(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("-record-key %s: not a note signer key: %w", c.recordKey, err)
		}
	}
	f, err := audit.OpenFile(c.record, opts)
	if err != nil {
		return nil, err
	}
	onClose(func() { f.Close() })
	return f, nil
}

// serve listens until ctx ends, then shuts down within five seconds.
func (c *consoleFlags) serve(ctx context.Context, h http.Handler, stderr io.Writer) error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if c.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stderr, "console listening on %s://%s%s/\n", scheme, ln.Addr(), strings.TrimSuffix(c.base, "/"))
	done := make(chan error, 1)
	go func() {
		if c.tlsCert != "" {
			done <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
