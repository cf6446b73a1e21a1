//! A real S3-compatible server on loopback for the object-store tests: moto's server mode
//! (`moto_server`, installed by `scripts/py-tools.sh` into the venv of [`crate::python`]),
//! a separate process, never a mock inside the test. One bucket, `pgops`; tests use
//! prefixes of their own.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "pgops";
pub const ACCESS_KEY: &str = "pgops-test-key";

#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    /// The keys tools are given: any (moto accepts any; the secret is the sentinel), or
    /// the generated keys of an IAM user on a server that checks signatures.
    keys: (String, String),
    /// moto checks signatures after this many requests (`None`: never).
    auth_after: Option<usize>,
}

impl S3Server {
    /// Starts moto on a free loopback port and creates the bucket.
    pub fn start() -> S3Server {
        let mut s = S3Server {
            child: None,
            port: crate::free_port(),
            keys: (ACCESS_KEY.into(), crate::SENTINEL_S3_SECRET.into()),
            auth_after: None,
        };
        s.resume();
        s.aws(&["s3", "mb", &format!("s3://{BUCKET}")]);
        s
    }

    /// A server that checks signatures. The bucket and an IAM user allowed everything are
    /// made while moto still accepts anyone (four requests); the user's generated keys are
    /// then the ones [`env`](Self::env) gives.
    pub fn start_with_auth() -> S3Server {
        let mut s = S3Server {
            child: None,
            port: crate::free_port(),
            keys: ("bootstrap".into(), "bootstrap".into()),
            auth_after: Some(4),
        };
        s.resume();
        s.aws(&["s3", "mb", &format!("s3://{BUCKET}")]);
        s.aws(&["iam", "create-user", "--user-name", "pgops"]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        s.aws(&[
            "iam",
            "put-user-policy",
            "--user-name",
            "pgops",
            "--policy-name",
            "all",
            "--policy-document",
            policy,
        ]);
        let out = s.aws(&["iam", "create-access-key", "--user-name", "pgops"]);
        let key: serde_json::Value = serde_json::from_slice(&out).unwrap();
        s.keys = (
            key["AccessKey"]["AccessKeyId"].as_str().unwrap().into(),
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
        );
        s
    }

    /// Creates bucket `name` with Object Lock (and so versioning) enabled.
    pub fn create_locked_bucket(&self, name: &str) {
        self.aws(&[
            "s3api",
            "create-bucket",
            "--bucket",
            name,
            "--object-lock-enabled-for-bucket",
        ]);
    }

    /// An IAM user allowed exactly `actions` on every bucket (on a server from
    /// [`start_with_auth`](Self::start_with_auth), which enforces it): the environment
    /// that points a tool at this server as that user.
    pub fn user(&self, name: &str, actions: &[&str]) -> Vec<(String, String)> {
        self.aws(&["iam", "create-user", "--user-name", name]);
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": "*"}]});
        self.aws(&[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "pgops",
            "--policy-document",
            &policy.to_string(),
        ]);
        let out = self.aws(&["iam", "create-access-key", "--user-name", name]);
        let key: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut env = self.env();
        env[0].1 = key["AccessKey"]["AccessKeyId"].as_str().unwrap().into();
        env[1].1 = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into();
        env
    }

    /// Runs the aws command against this server with its keys; it must succeed.
    pub fn aws(&self, args: &[&str]) -> Vec<u8> {
        self.aws_as(&self.env(), args)
            .unwrap_or_else(|e| panic!("aws {args:?}: {e}"))
    }

    /// Runs the aws command with the environment `env` (a user's keys): its output, or
    /// its error text.
    pub fn aws_as(&self, env: &[(String, String)], args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new(crate::venv_bin("aws"))
            .args(["--endpoint-url", &self.endpoint()])
            .args(args)
            .envs(env.iter().cloned())
            // awscli 1 reads only the older name.
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("the aws command (scripts/py-tools.sh installs it)");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// (Re)starts the server process on the same port (after [`stop`](Self::stop): its
    /// contents are gone, as after a crash of an in-memory store).
    pub fn resume(&mut self) {
        let mut cmd = Command::new(crate::venv_bin("moto_server"));
        if let Some(n) = self.auth_after {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let child = cmd
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
        // Whoever answers must be this server: one that could not bind has exited.
        std::thread::sleep(Duration::from_millis(100));
        let exited = self.child.as_mut().map(|c| c.try_wait());
        assert!(
            matches!(exited, Some(Ok(None))),
            "moto_server on port {} exited at start: {exited:?}",
            self.port
        );
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
            ("AWS_ACCESS_KEY_ID".into(), self.keys.0.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.keys.1.clone()),
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
