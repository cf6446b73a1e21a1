//! A real S3-compatible server on loopback for the object-store tests: moto's server mode
//! (`moto_server`, installed by `scripts/py-tools.sh` into the venv of [`crate::python`]),
//! a separate process, never a mock inside the test. One bucket, `pgops`; tests use
//! prefixes of their own.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "pgops";
pub const ACCESS_KEY: &str = "pgops-test-key";

#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
}

fn venv_bin(name: &str) -> PathBuf {
    crate::python()
        .parent()
        .expect("the venv's bin directory")
        .join(name)
}

impl S3Server {
    /// Starts moto on a free loopback port and creates the bucket.
    pub fn start() -> S3Server {
        let mut s = S3Server {
            child: None,
            port: crate::tls::free_port(),
        };
        s.resume();
        s.aws(&["s3", "mb", &format!("s3://{BUCKET}")]);
        s
    }

    /// Runs the aws command against this server with its keys; it must succeed.
    fn aws(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(venv_bin("aws"))
            .args(["--endpoint-url", &self.endpoint()])
            .args(args)
            .envs(self.env())
            // awscli 1 reads only the older name.
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("the aws command (scripts/py-tools.sh installs it)");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// (Re)starts the server process on the same port (after [`stop`](Self::stop): its
    /// contents are gone, as after a crash of an in-memory store).
    pub fn resume(&mut self) {
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (scripts/py-tools.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server at once (an endpoint that goes away mid-transfer).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://pgops/<prefix>`.
    pub fn location(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The AWS environment that points a tool at this server, with the sentinel secret.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                crate::SENTINEL_S3_SECRET.into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
