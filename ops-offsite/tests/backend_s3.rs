//! The S3 store against a real S3-compatible server process on loopback (moto), and the
//! local store against a directory: the same calls, the same answers.

use ops_offsite::backend::{open_location, s3::S3Store, PutMode, Store, StoreOptions};
use std::io::Read;
use std::time::Duration;
use testkit::s3::S3Server;

fn env_of(server: &S3Server) -> impl Fn(&str) -> Option<String> {
    let env = server.env();
    move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

fn quick() -> StoreOptions {
    StoreOptions {
        stall_timeout: Duration::from_secs(20),
        retry_timeout: Duration::from_secs(2),
        retention: None,
    }
}

/// Content that does not compress or repeat: 20 MiB, more than one part.
fn big() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..20 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn exercise(s: &dyn Store) {
    let data = big();
    let w = s
        .put(
            "db%2Fx/20261125T000000Z/db.dump.zst",
            &mut &data[..],
            None,
            PutMode::Overwrite,
        )
        .unwrap();
    assert_eq!(w.size, data.len() as u64);
    let m = s
        .put(
            "db%2Fx/20261125T000000Z/manifest.json",
            &mut &b"{}"[..],
            None,
            PutMode::Create,
        )
        .unwrap();
    assert_eq!(m.size, 2);
    let again = s.put(
        "db%2Fx/20261125T000000Z/manifest.json",
        &mut &b"{}"[..],
        None,
        PutMode::Create,
    );
    assert_eq!(
        again.unwrap_err().code(),
        "store_exists",
        "{}",
        s.location()
    );
    assert_eq!(
        s.list_dir("").unwrap().dirs,
        ["db%2Fx"],
        "names are kept as they are"
    );
    assert_eq!(s.list_dir("db%2Fx").unwrap().dirs, ["20261125T000000Z"]);
    let objs = s.list_dir("db%2Fx/20261125T000000Z").unwrap().objects;
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0].size, data.len() as u64);
    let mut back = Vec::new();
    s.open("db%2Fx/20261125T000000Z/db.dump.zst")
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == data, "the content round-trips");
    let tree: Vec<String> = s
        .list_tree("db%2Fx")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(
        tree,
        [
            "20261125T000000Z/db.dump.zst",
            "20261125T000000Z/manifest.json"
        ]
    );
    assert_eq!(s.size("db%2Fx/nope").unwrap(), None);
    assert_eq!(
        s.open("db%2Fx/nope").err().unwrap().code(),
        "store_not_found"
    );
    s.delete("db%2Fx/20261125T000000Z/db.dump.zst").unwrap();
    assert_eq!(s.size("db%2Fx/20261125T000000Z/db.dump.zst").unwrap(), None);
}

#[test]
fn s3_and_local_stores_answer_alike() {
    let server = S3Server::start();
    let s3 = S3Store::open_with("pgops/roundtrip", &quick(), &env_of(&server)).unwrap();
    assert_eq!(s3.location(), "s3://pgops/roundtrip");
    exercise(&s3);
    let dir = tempfile::tempdir().unwrap();
    let local = open_location(dir.path().to_str().unwrap(), &quick()).unwrap();
    exercise(local.as_ref());
}

#[test]
fn a_missing_bucket_and_an_unreachable_endpoint_are_clear_errors() {
    let server = S3Server::start();
    let none = S3Store::open_with("no-such-bucket/x", &quick(), &env_of(&server)).unwrap();
    let e = none.list_dir("").unwrap_err();
    assert_eq!(e.code(), "store_bucket_missing", "{e}");
    let e = none
        .put("a/b", &mut &b"x"[..], None, PutMode::Overwrite)
        .unwrap_err();
    assert_eq!(e.code(), "store_bucket_missing", "{e}");

    let port = testkit::free_port();
    let gone = move |k: &str| match k {
        "AWS_ENDPOINT_URL" => Some(format!("http://127.0.0.1:{port}")),
        other => env_of(&server)(other),
    };
    let s = S3Store::open_with("pgops/x", &quick(), &gone).unwrap();
    let e = s.list_dir("").unwrap_err();
    assert_eq!(e.code(), "store_unreachable", "{e}");
    assert!(!e.to_string().contains(testkit::SENTINEL_S3_SECRET));
}

/// A profile from `~/.aws` (keys in `credentials`, region and `endpoint_url` in `config`)
/// is used when the environment has no keys: the store reaches the server through it.
#[test]
fn a_profile_alone_reaches_the_store() {
    let server = S3Server::start();
    let env = env_of(&server);
    let seeded = S3Store::open_with("pgops/profile", &quick(), &env).unwrap();
    seeded
        .put(
            "a/b",
            &mut &b"x"[..],
            None,
            ops_offsite::backend::PutMode::Overwrite,
        )
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[backups]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            env("AWS_ACCESS_KEY_ID").unwrap(),
            env("AWS_SECRET_ACCESS_KEY").unwrap()
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile backups]\nregion = us-east-1\nendpoint_url = {}\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let h = home.path().display().to_string();
    let profile_only = move |k: &str| match k {
        "HOME" => Some(h.clone()),
        "AWS_PROFILE" => Some("backups".into()),
        _ => None,
    };
    let p = S3Store::open_with("pgops/profile", &quick(), &profile_only).unwrap();
    assert_eq!(p.list_dir("a").unwrap().objects.len(), 1);
}

/// On a server that checks signatures: the right keys work; a wrong secret is
/// `store_denied`, and the error never shows the secret.
#[test]
fn wrong_credentials_are_denied() {
    let server = S3Server::start_with_auth();
    let good = S3Store::open_with("pgops/auth", &quick(), &env_of(&server)).unwrap();
    good.put(
        "a/b",
        &mut &b"x"[..],
        None,
        ops_offsite::backend::PutMode::Overwrite,
    )
    .unwrap();
    let env = env_of(&server);
    let wrong = move |k: &str| match k {
        "AWS_SECRET_ACCESS_KEY" => Some(testkit::SENTINEL_S3_SECRET.to_string()),
        other => env(other),
    };
    let s = S3Store::open_with("pgops/auth", &quick(), &wrong).unwrap();
    for e in [
        s.list_dir("").unwrap_err(),
        s.put(
            "a/c",
            &mut &b"x"[..],
            None,
            ops_offsite::backend::PutMode::Overwrite,
        )
        .unwrap_err(),
    ] {
        assert_eq!(e.code(), "store_denied", "{e}");
        assert!(!e.to_string().contains(testkit::SENTINEL_S3_SECRET));
    }
}
