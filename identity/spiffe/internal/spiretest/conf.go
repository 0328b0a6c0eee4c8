package spiretest

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
