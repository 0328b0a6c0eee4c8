package spiretest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// EnvBin is the variable naming the directory that holds spire-server and
// spire-agent.
const EnvBin = "MODELGUARD_SPIRE_BIN"

// TrustDomain is the trust domain of the test cluster.
const TrustDomain = "modelguard.test"

// AgentID is the SPIFFE ID the join token gives the agent, the parent of
// every workload entry.
const AgentID = "spiffe://" + TrustDomain + "/spire-test-agent"

// Cluster is a running SPIRE server and agent.
type Cluster struct {
	bin, dir     string
	serverSocket string
	// AgentSocket is the Workload API address, for workloadapi.WithAddr.
	AgentSocket string
}

// Bin returns the directory named by [EnvBin], or skips tb.
func Bin(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" && os.Getenv("CI") == "true" {
		tb.Fatal(EnvBin + " is not set in CI: .ci/run must eval \"$(.ci/spire)\" before the tests")
	}
	if bin == "" {
		tb.Skip("set " + EnvBin + " to run the SPIRE integration test: eval \"$(.ci/spire)\" builds spire-server and spire-agent and sets it")
	}
	for _, name := range []string{"spire-server", "spire-agent"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			tb.Fatalf("%s=%s: %v (run .ci/spire)", EnvBin, bin, err)
		}
	}
	return bin
}

// Start runs a server and an agent joined to it, and stops both when tb
// ends. Sockets live in a short temporary directory, as unix socket paths are
// limited to about 100 bytes.
func Start(tb testing.TB, ctx context.Context, bin string) *Cluster {
	tb.Helper()
	dir, err := os.MkdirTemp("", "mgspire")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	c := &Cluster{bin: bin, dir: dir, serverSocket: filepath.Join(dir, "server.sock"),
		AgentSocket: "unix://" + filepath.Join(dir, "agent.sock")}
	port := freePort(tb)
	c.write(tb, "server.conf", serverConf, port)
	c.write(tb, "agent.conf", agentConf, port)
	c.run(tb, "server", filepath.Join(bin, "spire-server"), "run", "-config", filepath.Join(dir, "server.conf"))
	c.waitHealthy(tb, ctx, "spire-server", "-socketPath", c.serverSocket)
	token := c.joinToken(tb, ctx)
	c.run(tb, "agent", filepath.Join(bin, "spire-agent"), "run", "-config", filepath.Join(dir, "agent.conf"), "-joinToken", token)
	c.waitHealthy(tb, ctx, "spire-agent", "-socketPath", filepath.Join(dir, "agent.sock"))
	return c
}

// CreateEntry registers a workload entry for spiffeID with the selectors
// (such as "unix:uid:0"), parented to the agent.
func (c *Cluster) CreateEntry(tb testing.TB, ctx context.Context, spiffeID string, selectors ...string) {
	tb.Helper()
	args := []string{"entry", "create", "-socketPath", c.serverSocket, "-parentID", AgentID, "-spiffeID", spiffeID}
	for _, s := range selectors {
		args = append(args, "-selector", s)
	}
	c.server(tb, ctx, args...)
}

func (c *Cluster) joinToken(tb testing.TB, ctx context.Context) string {
	tb.Helper()
	out := c.server(tb, ctx, "token", "generate", "-socketPath", c.serverSocket, "-spiffeID", AgentID, "-ttl", "600")
	m := regexp.MustCompile(`Token:\s*(\S+)`).FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("no join token in %q", out)
	}
	return m[1]
}

// server runs one spire-server command and returns its output.
func (c *Cluster) server(tb testing.TB, ctx context.Context, args ...string) string {
	tb.Helper()
	out, err := exec.CommandContext(ctx, filepath.Join(c.bin, "spire-server"), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("spire-server %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
	return string(out)
}

// run starts a long-running process, logging to dir/name.log, killed at the
// end of the test.
func (c *Cluster) run(tb testing.TB, name, path string, args ...string) {
	tb.Helper()
	log, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = c.dir, log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(log.Name())
			tb.Logf("%s log:\n%s", name, b)
		}
	})
}

// waitHealthy polls the healthcheck command until it passes or ctx ends.
func (c *Cluster) waitHealthy(tb testing.TB, ctx context.Context, binary string, args ...string) {
	tb.Helper()
	var out []byte
	err := Poll(ctx, 200*time.Millisecond, func() error {
		var err error
		out, err = exec.CommandContext(ctx, filepath.Join(c.bin, binary), append([]string{"healthcheck"}, args...)...).CombinedOutput()
		return err
	})
	if err != nil {
		tb.Fatalf("%s never became healthy: %v\n%s", binary, err, out)
	}
}

// Poll calls f every interval until it returns nil or ctx ends, and returns
// the last error.
func Poll(ctx context.Context, interval time.Duration, f func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (c *Cluster) write(tb testing.TB, name, tmpl string, port int) {
	tb.Helper()
	r := strings.NewReplacer("@DIR@", c.dir, "@PORT@", fmt.Sprint(port), "@TD@", TrustDomain)
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(r.Replace(tmpl)), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverConf is the SPIRE server configuration: loopback only, in-memory
// keys, SQLite in the test directory, join-token node attestation.
const serverConf = `
server {
    bind_address = "127.0.0.1"
    bind_port = "@PORT@"
    socket_path = "@DIR@/server.sock"
    trust_domain = "@TD@"
    data_dir = "@DIR@/server-data"
    log_level = "WARN"
    ca_key_type = "ec-p256"
    jwt_key_type = "ec-p256"
    default_jwt_svid_ttl = "5m"
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "@DIR@/datastore.sqlite3"
        }
    }
    KeyManager "memory" {
        plugin_data {}
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
}
`

// agentConf is the SPIRE agent configuration: joins the server above with a
// join token and attests workloads by their unix uid.
const agentConf = `
agent {
    data_dir = "@DIR@/agent-data"
    log_level = "WARN"
    server_address = "127.0.0.1"
    server_port = "@PORT@"
    socket_path = "@DIR@/agent.sock"
    trust_domain = "@TD@"
    insecure_bootstrap = true
}

plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
`
