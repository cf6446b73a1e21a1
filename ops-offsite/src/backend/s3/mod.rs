//! A catalog in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Backblaze B2), through
//! `object_store` (ADR 0012). The tools are synchronous; each store owns a small tokio
//! runtime and waits on it, every wait bounded by the stall timeout.
//!
//! Settings follow the AWS conventions: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL` from the environment, else the
//! `AWS_PROFILE` profile of `~/.aws/credentials` and `~/.aws/config`. Requests are
//! path-style (`AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` for virtual-hosted), carry no CRC
//! checksum and no storage class (R2 rejects both), and are retried with backoff on 5xx,
//! throttling and broken connections.

mod control;

use super::{
    check_key, DirListing, Hashing, ObjectInfo, ObjectVersion, Protection, PutMode, Retention,
    Store, StoreError, StoreOptions, Stored,
};
use bytes::Bytes;
use control::Control;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    ClientOptions, HeaderMap, HeaderValue, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    WriteMultipart,
};
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// S3 allows at most 10,000 parts; sizes are chosen to stay well under (ADR 0012).
const MAX_PARTS: u64 = 9_000;
/// The smallest part S3 accepts (but the last), and pgops' default for unknown sizes.
const MIN_PART: usize = 8 << 20;
const DEFAULT_PART: usize = 16 << 20;
/// Bytes of parts in flight at once. S3 servers take parts in parallel, and one stream
/// rarely fills a link: up to 8 parts in flight (awscli sends 10; 4, 8 and 10 measured
/// the same against moto), but never more than this many bytes (at least 2 parts), so
/// memory stays flat whatever the file size: about this plus two parts.
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// How many parts of `part` bytes go at once.
pub fn parts_in_flight(part: usize) -> usize {
    (IN_FLIGHT_BYTES / part.max(1)).clamp(2, 8)
}

#[derive(Debug)]
pub struct S3Store {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    /// The AWS profile the location names (`?profile=`), part of its identity.
    profile: Option<String>,
    rt: Arc<tokio::runtime::Runtime>,
    stall: Duration,
    /// The builder of `store`, for the writer a locked bucket needs.
    builder: AmazonS3Builder,
    allow_http: bool,
    /// The calls object_store does not make: lock settings and versions.
    control: Control,
    /// The retention asked for every object written (`--lock-mode`).
    requested: Option<Retention>,
    /// The bucket's settings, read once when first needed.
    protection: OnceLock<Result<Protection, StoreError>>,
    /// What objects are written with: `store`, or a client that sends the lock and
    /// checksum headers a locked bucket requires.
    writer: OnceLock<Arc<AmazonS3>>,
}

/// The part size for an object of `size` bytes: big enough to stay under the part limit.
pub fn part_size(size: Option<u64>) -> usize {
    match size {
        None => DEFAULT_PART,
        Some(n) => {
            let need = n.div_ceil(MAX_PARTS) as usize;
            need.next_multiple_of(1 << 20).max(MIN_PART)
        }
    }
}

/// A store error from object_store's, classified by what an operator must do about it.
fn classify(e: object_store::Error, what: &str) -> StoreError {
    let text = e.to_string();
    match e {
        object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => {
            StoreError::NoBucket(what.to_string())
        }
        object_store::Error::NotFound { .. } => StoreError::NotFound(what.to_string()),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            StoreError::Exists(what.to_string())
        }
        _ if text.contains("NoSuchBucket") => StoreError::NoBucket(what.to_string()),
        // No keys anywhere: object_store fell back to the EC2 metadata service.
        _ if text.contains("169.254.169.254") => StoreError::Denied(format!(
            "{what}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )),
        _ if ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden"]
            .iter()
            .any(|m| text.contains(m)) =>
        {
            StoreError::Denied(format!("{what}: check the credentials and the bucket policy"))
        }
        _ if ["error sending request", "Connection refused", "connection", "dns error"]
            .iter()
            .any(|m| text.contains(m)) =>
        {
            StoreError::Unreachable(format!("{what}: {}", first_line(&text)))
        }
        _ => StoreError::Other(format!("{what}: {}", first_line(&text))),
    }
}

/// Error texts can carry a whole XML body: the first line says enough.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Splits `?profile=NAME` off a location: that destination's keys, endpoint and region come
/// from that AWS profile alone (a second provider in the same run), never from `AWS_*`.
fn split_profile(location: &str) -> Result<(&str, Option<String>), StoreError> {
    let Some((rest, query)) = location.split_once('?') else {
        return Ok((location, None));
    };
    match query.strip_prefix("profile=") {
        Some(name)
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Ok((rest, Some(name.to_string())))
        }
        _ => Err(StoreError::Invalid(format!(
            "s3://{location}: the only setting a location takes is ?profile=NAME (an AWS profile)"
        ))),
    }
}

/// The region: the environment's, else the profile's, else `us-east-1`.
fn region_of(env: &dyn Fn(&str) -> Option<String>, profile: &Option<String>) -> String {
    env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(profile.clone())
        .unwrap_or_else(|| "us-east-1".into())
}

impl S3Store {
    /// Opens `bucket[/prefix]` (the part of the location after `s3://`).
    pub fn open(rest: &str, options: &StoreOptions) -> Result<S3Store, StoreError> {
        Self::open_with(rest, options, &|k| {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        })
    }

    pub fn open_with(
        location: &str,
        options: &StoreOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Store, StoreError> {
        let (rest, profile_name) = split_profile(location)?;
        let own_env;
        let env: &dyn Fn(&str) -> Option<String> = match &profile_name {
            None => env,
            Some(name) => {
                own_env = move |k: &str| match k {
                    "AWS_PROFILE" => Some(name.clone()),
                    "AWS_ACCESS_KEY_ID"
                    | "AWS_SECRET_ACCESS_KEY"
                    | "AWS_SESSION_TOKEN"
                    | "AWS_ENDPOINT_URL"
                    | "AWS_REGION"
                    | "AWS_DEFAULT_REGION" => None,
                    _ => env(k),
                };
                &own_env
            }
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // Credentials have no place in a location: it is in argv (ps shows it), in the
        // units, in every event. Refused without repeating it.
        if rest.contains('@') {
            return Err(StoreError::Invalid(
                "the s3:// location holds credentials (user:secret@): give them in the environment \
                 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a profile, never in the location"
                    .into(),
            ));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if bucket.is_empty() || !prefix.is_empty() && check_key(&prefix).is_err() {
            return Err(StoreError::Invalid(format!(
                "s3://{rest}: expected s3://BUCKET or s3://BUCKET/PREFIX"
            )));
        }
        let profile = super::profile::load(env);
        // The environment's keys, else the profile's (as the AWS CLI); with neither,
        // object_store asks the instance metadata service (an EC2 role).
        let (id, secret, token) = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => (Some(id), Some(secret), env("AWS_SESSION_TOKEN")),
            _ => (
                profile.access_key_id,
                profile.secret_access_key,
                profile.session_token,
            ),
        };
        // A profile's destination takes nothing from AWS_* variables.
        let mut b = match profile_name {
            None => AmazonS3Builder::from_env(),
            Some(_) => AmazonS3Builder::new().with_virtual_hosted_style_request(
                env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").as_deref() == Some("true"),
            ),
        }
        .with_bucket_name(bucket);
        if let (Some(id), Some(secret)) = (id, secret) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = token {
                b = b.with_token(t);
            }
        }
        let profile_region = profile.region.clone();
        b = b.with_region(region_of(env, &profile_region));
        let endpoint = env("AWS_ENDPOINT_URL").or(profile.endpoint_url);
        if let Some(url) = &endpoint {
            b = b
                .with_endpoint(url)
                .with_allow_http(url.starts_with("http://"));
        }
        let allow_http = endpoint
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"));
        let retry = object_store::RetryConfig {
            max_retries: 10,
            retry_timeout: options.retry_timeout,
            ..Default::default()
        };
        // The payload is not hashed a third time for the request signature: pgops hashes
        // every object it stores itself (the envelope's SHA-256), and TLS protects the
        // transfer (UNSIGNED-PAYLOAD, as S3, R2 and MinIO accept).
        let b = b.with_retry(retry).with_unsigned_payload(true);
        let store = b.clone().build().map_err(|e| {
            StoreError::Invalid(format!("s3://{rest}: {}", first_line(&e.to_string())))
        })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pgops-s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Other(format!("starting the S3 client: {e}")))?;
        let control = Control::new(
            store.credentials().clone(),
            &region_of(env, &profile_region),
            endpoint.as_deref(),
            bucket,
            env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").as_deref() == Some("true"),
            options.stall_timeout,
        )?;
        let s = S3Store {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix,
            profile: profile_name,
            rt: Arc::new(rt),
            stall: options.stall_timeout,
            builder: b,
            allow_http,
            control,
            requested: options.retention.clone(),
            protection: OnceLock::new(),
            writer: OnceLock::new(),
        };
        if s.requested.is_some() {
            s.check_lockable()?;
        }
        Ok(s)
    }

    /// A lock was asked for: the bucket must have Object Lock (and so versioning), or the
    /// request is refused by name before anything is written.
    fn check_lockable(&self) -> Result<(), StoreError> {
        let location = self.location();
        match self.bucket_protection() {
            Ok(p) if p.object_lock && p.versioning => Ok(()),
            Ok(_) => Err(StoreError::LockUnsupported(format!(
                "{location}: the bucket has no Object Lock, so copies cannot be locked: create a bucket with it \
                 (`aws s3api create-bucket --object-lock-enabled-for-bucket`, docs/storage.md), or copy without --object-lock"
            ))),
            Err(e @ (StoreError::NoBucket(_) | StoreError::Unreachable(_) | StoreError::Stalled(_))) => Err(e),
            Err(e) => Err(StoreError::LockUnsupported(format!(
                "{location}: cannot read the bucket's Object Lock settings, so a lock cannot be promised: {e}"
            ))),
        }
    }

    /// The bucket's Object Lock and versioning, read once.
    fn bucket_protection(&self) -> Result<Protection, StoreError> {
        self.protection
            .get_or_init(|| self.wait(self.control.protection()).and_then(|r| r))
            .clone()
    }

    /// The client objects are written with. A bucket with a default retention rule, or a
    /// run that locks, needs every upload checksummed (S3 refuses a locked upload without
    /// one) and, for the run's own lock, the lock headers on the upload itself: the object
    /// is never stored unlocked, and no request per object is added.
    fn writer(&self) -> Result<Arc<AmazonS3>, StoreError> {
        if let Some(w) = self.writer.get() {
            return Ok(w.clone());
        }
        let default_rule = self.requested.is_none()
            && self
                .bucket_protection()
                .is_ok_and(|p| p.default_retention.is_some());
        let w = if self.requested.is_none() && !default_rule {
            self.store.clone()
        } else {
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-amz-sdk-checksum-algorithm",
                HeaderValue::from_static("SHA256"),
            );
            for (name, value) in self.requested.iter().flat_map(control::lock_headers) {
                let value = HeaderValue::from_str(&value)
                    .map_err(|e| StoreError::Invalid(format!("{name}: {e}")))?;
                headers.insert(name, value);
            }
            let options = ClientOptions::new()
                .with_allow_http(self.allow_http)
                .with_default_headers(headers);
            let built = self
                .builder
                .clone()
                .with_client_options(options)
                .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
                .build()
                .map_err(|e| StoreError::Invalid(format!("{}: {e}", self.location())))?;
            Arc::new(built)
        };
        Ok(self.writer.get_or_init(|| w).clone())
    }

    /// After a multipart upload that a lock was asked for, sets the lock on the object
    /// (PutObjectRetention, the same date: S3 accepts it again): S3 applies the upload's
    /// lock headers at completion, but not every S3-compatible server does (moto does
    /// not), and a lock is never assumed. One request either way; no read-back first.
    fn confirm_lock(&self, key: &str) -> Result<(), StoreError> {
        match &self.requested {
            None => Ok(()),
            Some(wanted) => self.wait(self.control.put_retention(&self.full_key(key), wanted))?,
        }
    }

    /// The key as the bucket names it (with the catalog's prefix).
    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn path(&self, key: &str) -> Result<ObjPath, StoreError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        // Keys are used as they are (the catalog's names are already safe): no re-encoding.
        ObjPath::parse(&full).map_err(|e| StoreError::Invalid(format!("{key:?}: {e}")))
    }

    /// Runs `fut` on the store's runtime; no progress for the stall timeout is `Stalled`.
    fn wait<T>(&self, fut: impl std::future::Future<Output = T>) -> Result<T, StoreError> {
        let stall = self.stall;
        self.rt
            .block_on(async move { tokio::time::timeout(stall, fut).await })
            .map_err(|_| StoreError::Stalled(stall))
    }
}

/// A streaming read of one object.
struct S3Reader {
    rt: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    buf: Bytes,
    stall: Duration,
    what: String,
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            let stall = self.stall;
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(stall, self.stream.next()).await });
            match next {
                Err(_) => return Err(std::io::Error::other(StoreError::Stalled(stall))),
                Ok(None) => return Ok(0),
                Ok(Some(Ok(b))) => self.buf = b,
                Ok(Some(Err(e))) => return Err(std::io::Error::other(classify(e, &self.what))),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl Store for S3Store {
    fn location(&self) -> String {
        let mut out = format!("s3://{}", self.bucket);
        if !self.prefix.is_empty() {
            out.push('/');
            out.push_str(&self.prefix);
        }
        if let Some(p) = &self.profile {
            out.push_str("?profile=");
            out.push_str(p);
        }
        out
    }

    fn list_dir(&self, dir: &str) -> Result<DirListing, StoreError> {
        let base = match (self.prefix.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (false, true) => {
                Some(ObjPath::parse(&self.prefix).map_err(|e| StoreError::Invalid(e.to_string()))?)
            }
            _ => Some(self.path(dir)?),
        };
        let what = format!("listing {}/{dir}", self.location());
        let found = self
            .wait(self.store.list_with_delimiter(base.as_ref()))?
            .map_err(|e| classify(e, &what))?;
        let strip = |p: &ObjPath| {
            let raw = p.as_ref();
            let skip = base.as_ref().map_or(0, |b| b.as_ref().len() + 1);
            raw.get(skip..).unwrap_or("").to_string()
        };
        let mut out = DirListing {
            dirs: found.common_prefixes.iter().map(strip).collect(),
            objects: found
                .objects
                .iter()
                .map(|o| ObjectInfo {
                    name: strip(&o.location),
                    size: o.size,
                })
                .collect(),
        };
        out.dirs.sort();
        out.objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn list_tree(&self, dir: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let base = self.path(dir)?;
        let what = format!("listing {}/{dir}", self.location());
        let skip = base.as_ref().len() + 1;
        let listed: Vec<object_store::Result<object_store::ObjectMeta>> =
            self.wait(self.store.list(Some(&base)).collect::<Vec<_>>())?;
        let mut out = Vec::with_capacity(listed.len());
        for o in listed {
            let o = o.map_err(|e| classify(e, &what))?;
            let raw = o.location.as_ref();
            out.push(ObjectInfo {
                name: raw.get(skip..).unwrap_or("").to_string(),
                size: o.size,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match self.wait(self.store.head(&path))? {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(classify(e, key)),
        }
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let path = self.path(key)?;
        let got = self
            .wait(self.store.get(&path))?
            .map_err(|e| classify(e, key))?;
        Ok(Box::new(S3Reader {
            rt: self.rt.clone(),
            stream: got.into_stream(),
            buf: Bytes::new(),
            stall: self.stall,
            what: key.to_string(),
        }))
    }

    /// One PUT for what fits a part (conditional when `Create`), else a multipart upload
    /// with up to 8 parts (64 MiB) in flight, aborted on any failure so that no part lingers.
    fn put(
        &self,
        key: &str,
        src: &mut dyn Read,
        size_hint: Option<u64>,
        mode: PutMode,
    ) -> Result<Stored, StoreError> {
        let path = self.path(key)?;
        let store = self.writer()?;
        let part = part_size(size_hint);
        let mut src = Hashing::new(src);
        let mut buf = vec![0u8; part];
        let n = super::fill(&mut src, &mut buf, key)?;
        if n < part {
            buf.truncate(n);
            let opts = PutOptions {
                mode: match mode {
                    PutMode::Overwrite => object_store::PutMode::Overwrite,
                    PutMode::Create => object_store::PutMode::Create,
                },
                ..Default::default()
            };
            self.wait(store.put_opts(&path, PutPayload::from(buf), opts))?
                .map_err(|e| classify(e, key))?;
            return Ok(super::stored(src));
        }
        if mode == PutMode::Create {
            return Err(StoreError::Invalid(format!(
                "{key}: a create-only write must fit one part"
            )));
        }
        let upload = self
            .wait(store.put_multipart(&path))?
            .map_err(|e| classify(e, key))?;
        // WriteMultipart spawns each part's upload on the runtime it is used in.
        let _in_runtime = self.rt.enter();
        let mut w = WriteMultipart::new_with_chunk_size(upload, part);
        let sent: Result<(), StoreError> = (|| {
            w.write(&buf[..n]);
            loop {
                self.wait(w.wait_for_capacity(parts_in_flight(part)))?
                    .map_err(|e| classify(e, key))?;
                let n = super::fill(&mut src, &mut buf, key)?;
                if n == 0 {
                    return Ok(());
                }
                w.write(&buf[..n]);
            }
        })();
        match sent {
            Ok(()) => {
                self.wait(w.finish())?.map_err(|e| classify(e, key))?;
                self.confirm_lock(key)?;
                Ok(super::stored(src))
            }
            Err(e) => {
                // Abort, so that the store keeps no orphan parts (bounded: the abort is
                // itself a request, and the lifecycle rule in docs/storage.md cleans up
                // what an abort could not).
                let _ = self.wait(w.abort());
                Err(e)
            }
        }
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.wait(self.store.delete(&path))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(classify(e, key)),
        }
    }

    /// On a versioned bucket every version and delete marker of `key`, one by one;
    /// elsewhere a plain delete.
    fn purge(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        if !self.bucket_protection().is_ok_and(|p| p.versioning) {
            return self.delete(key);
        }
        let full = self.full_key(key);
        let versions = self.wait(self.control.versions(&full))??;
        for v in versions.iter().filter(|v| v.key == full) {
            self.wait(self.control.delete_version(&full, &v.version_id))??;
        }
        Ok(())
    }

    fn protection(&self) -> Result<Protection, StoreError> {
        self.bucket_protection()
    }

    fn write_retention(&self) -> Option<Retention> {
        if let Some(r) = &self.requested {
            return Some(r.clone());
        }
        let (mode, period) = self.bucket_protection().ok()?.default_retention?;
        let until = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::try_from(period).ok()?)
            .ok()?;
        Some(Retention { mode, until })
    }

    fn versions(&self, dir: &str) -> Result<Vec<ObjectVersion>, StoreError> {
        let root = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let prefix = if dir.is_empty() {
            root.clone()
        } else {
            check_key(dir)?;
            format!("{root}{dir}/")
        };
        let mut found = self.wait(self.control.versions(&prefix))??;
        for v in &mut found {
            v.key = v.key.get(root.len()..).unwrap_or_default().to_string();
        }
        found.sort_by(|a, b| a.key.cmp(&b.key).then(b.modified.cmp(&a.modified)));
        Ok(found)
    }

    fn restore_version(
        &self,
        key: &str,
        version: &str,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        self.wait(
            self.control
                .restore(&self.full_key(key), version, retention),
        )?
    }

    fn delete_version(&self, key: &str, version: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.wait(self.control.delete_version(&self.full_key(key), version))?
    }

    fn retention(&self, key: &str, version: Option<&str>) -> Result<Option<Retention>, StoreError> {
        check_key(key)?;
        self.wait(self.control.retention(&self.full_key(key), version))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_stay_under_the_part_limit() {
        assert_eq!(part_size(None), DEFAULT_PART);
        assert_eq!(part_size(Some(1)), MIN_PART);
        let tb = 5u64 << 40;
        let p = part_size(Some(tb)) as u64;
        assert!(tb.div_ceil(p) <= 10_000, "5 TiB in at most 10,000 parts");
        assert_eq!(p % (1 << 20), 0);
        // Memory in flight stays bounded whatever the size.
        assert_eq!(parts_in_flight(MIN_PART), 8);
        assert_eq!(parts_in_flight(p as usize), 2);
        assert!(parts_in_flight(DEFAULT_PART) * DEFAULT_PART <= IN_FLIGHT_BYTES);
    }

    #[test]
    fn locations_are_checked() {
        let env = |_: &str| None;
        let o = StoreOptions::default();
        assert!(S3Store::open_with("", &o, &env).is_err());
        assert!(S3Store::open_with("b/../x", &o, &env).is_err());
        let s = S3Store::open_with("bucket/some/prefix/", &o, &env).unwrap();
        assert_eq!(s.location(), "s3://bucket/some/prefix");
    }
}
