//! The S3 calls object_store does not make (ADR 0025): a bucket's Object Lock and
//! versioning settings, and object versions (listed, restored, deleted, their retention).
//! Requests are signed by object_store's own SigV4 signer with the store's credential chain
//! and sent through its HTTP client: one HTTP stack, one TLS setup, one place credentials
//! come from. Bodies are small XML documents; object data never goes through here.

use super::super::{ObjectVersion, Protection, Retention, RetentionMode, StoreError};
use bytes::Bytes;
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::{ClientOptions, HeaderMap};
use std::time::Duration;

/// How a request reaches the bucket, and who signs it.
#[derive(Debug)]
pub(crate) struct Control {
    client: HttpClient,
    credentials: AwsCredentialProvider,
    region: String,
    /// `https://endpoint/bucket` (path-style) or `https://bucket.endpoint` (virtual-hosted).
    base: String,
    bucket: String,
}

/// What came back: status, headers, body.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What S3 leaves unencoded in a key's path: the unreserved characters and `/`.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// In a query value, `/` is encoded too.
const QUERY: &percent_encoding::AsciiSet = &PATH.add(b'/');

/// Percent-encodes a key for a URL path as S3 expects.
pub(crate) fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, PATH).to_string()
}

fn encode_query(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY).to_string()
}

/// The S3 error code of an error body (`<Code>AccessDenied</Code>`).
fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string())
        .unwrap_or_default()
}

impl Control {
    pub(crate) fn new(
        credentials: AwsCredentialProvider,
        region: &str,
        endpoint: Option<&str>,
        bucket: &str,
        virtual_hosted: bool,
        timeout: Duration,
    ) -> Result<Control, StoreError> {
        let endpoint = endpoint
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let base = if virtual_hosted {
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
                None => format!("{bucket}.{endpoint}"),
            }
        } else {
            format!("{endpoint}/{bucket}")
        };
        let options = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_timeout(timeout)
            .with_connect_timeout(Duration::from_secs(10));
        let client = ReqwestConnector::default()
            .connect(&options)
            .map_err(|e| StoreError::Other(format!("starting the S3 client: {e}")))?;
        Ok(Control {
            client,
            credentials,
            region: region.to_string(),
            base,
            bucket: bucket.to_string(),
        })
    }

    /// One signed request; transient failures (5xx, throttling, a broken connection) are
    /// tried again up to 4 times with backoff.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Reply, StoreError> {
        let mut url = self.base.clone();
        if let Some(k) = key {
            url.push('/');
            url.push_str(&encode_key(k));
        }
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode_query(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let what = format!("{method} s3://{}/{}", self.bucket, key.unwrap_or_default());
        let mut delay = Duration::from_millis(200);
        for attempt in 0..5 {
            let credential = self
                .credentials
                .get_credential()
                .await
                .map_err(|e| super::classify(e, &what))?;
            let mut req = http::Request::builder().method(method.clone()).uri(&url);
            for (name, value) in headers {
                req = req.header(*name, value);
            }
            let mut req = req
                .body(HttpRequestBody::from(body.clone()))
                .map_err(|e| StoreError::Invalid(format!("{what}: {e}")))?;
            AwsAuthorizer::new(&credential, "s3", &self.region)
                .with_sign_payload(false)
                .try_authorize(&mut req, None)
                .map_err(|e| StoreError::Other(format!("{what}: signing: {e}")))?;
            match self.client.execute(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let status = parts.status.as_u16();
                    let body = body.bytes().await.unwrap_or_default();
                    if status < 500 && status != 429 || attempt == 4 {
                        return Ok(Reply {
                            status,
                            headers: parts.headers,
                            body,
                        });
                    }
                }
                Err(e) if attempt == 4 => {
                    return Err(StoreError::Unreachable(format!("{what}: {e}")));
                }
                // A 5xx, throttling or a broken connection: tried again.
                Err(_) => {}
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// A reply that is not a success, as a store error naming `what`.
    pub(crate) fn failure(reply: &Reply, what: &str) -> StoreError {
        let code = error_code(&reply.body);
        match (reply.status, code.as_str()) {
            (_, "NoSuchBucket") => StoreError::NoBucket(what.to_string()),
            (404, _) => StoreError::NotFound(what.to_string()),
            (403, _) => StoreError::Denied(format!("{what}: {code}")),
            (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                StoreError::Denied(format!("{what}: {code}"))
            }
            (status, code) => StoreError::Other(format!("{what}: HTTP {status} {code}")),
        }
    }

    /// Object Lock and versioning of the bucket. A store that does not implement the calls
    /// (501, or an error naming them) offers neither.
    pub(crate) async fn protection(&self) -> Result<Protection, StoreError> {
        let what = format!("reading the Object Lock settings of s3://{}", self.bucket);
        let lock = self
            .send(
                http::Method::GET,
                None,
                &[("object-lock", "")],
                &[],
                Bytes::new(),
            )
            .await?;
        let mut out = Protection::default();
        match lock.status {
            200 => {
                let text = String::from_utf8_lossy(&lock.body);
                out.object_lock = tag(&text, "ObjectLockEnabled").as_deref() == Some("Enabled");
                if let Some(mode) = tag(&text, "Mode").and_then(|m| RetentionMode::parse(&m)) {
                    let days: u64 = tag(&text, "Days").and_then(|d| d.parse().ok()).unwrap_or(0);
                    let years: u64 = tag(&text, "Years")
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    let days = days + years * 365;
                    if days > 0 {
                        out.default_retention = Some((mode, Duration::from_secs(days * 24 * 3600)));
                    }
                }
            }
            404 if error_code(&lock.body) != "NoSuchBucket" => {}
            400 | 501 if error_code(&lock.body) != "InvalidAccessKeyId" => {}
            _ => return Err(Self::failure(&lock, &what)),
        }
        let what = format!("reading the versioning of s3://{}", self.bucket);
        let v = self
            .send(
                http::Method::GET,
                None,
                &[("versioning", "")],
                &[],
                Bytes::new(),
            )
            .await?;
        match v.status {
            200 => {
                out.versioning =
                    tag(&String::from_utf8_lossy(&v.body), "Status").as_deref() == Some("Enabled")
            }
            400 | 404 | 501 if error_code(&v.body) != "NoSuchBucket" => {}
            _ => return Err(Self::failure(&v, &what)),
        }
        Ok(out)
    }

    /// Every version and delete marker of the objects under `prefix` (the full key prefix),
    /// page after page.
    pub(crate) async fn versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, StoreError> {
        let what = format!("listing the versions under s3://{}/{prefix}", self.bucket);
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = vec![("prefix", prefix), ("versions", "")];
            if let Some((k, v)) = &marker {
                query.push(("key-marker", k.as_str()));
                query.push(("version-id-marker", v.as_str()));
            }
            let reply = self
                .send(http::Method::GET, None, &query, &[], Bytes::new())
                .await?;
            if reply.status != 200 {
                return Err(Self::failure(&reply, &what));
            }
            let page: xml::ListVersions = quick_xml::de::from_reader(reply.body.as_ref())
                .map_err(|e| StoreError::Other(format!("{what}: unreadable listing: {e}")))?;
            out.extend(page.entries()?);
            match (
                page.truncated,
                page.next_key_marker,
                page.next_version_marker,
            ) {
                (true, Some(k), Some(v)) => marker = Some((k, v)),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The retention of `key` (its current version, or `version`), from its headers.
    pub(crate) async fn retention(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<Retention>, StoreError> {
        let query: Vec<(&str, &str)> = version.map(|v| ("versionId", v)).into_iter().collect();
        let reply = self
            .send(http::Method::HEAD, Some(key), &query, &[], Bytes::new())
            .await?;
        if reply.status != 200 {
            return Err(Self::failure(&reply, key));
        }
        let header = |n: &str| {
            reply
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mode = header("x-amz-object-lock-mode").and_then(|m| RetentionMode::parse(&m));
        let until = header("x-amz-object-lock-retain-until-date").and_then(|d| d.parse().ok());
        Ok(mode
            .zip(until)
            .map(|(mode, until)| Retention { mode, until }))
    }

    /// Locks the current version of `key` until `r.until` (PutObjectRetention): for what
    /// a store stored without the lock its upload asked for.
    pub(crate) async fn put_retention(&self, key: &str, r: &Retention) -> Result<(), StoreError> {
        use base64::Engine;
        use sha2::Digest;
        let body = format!(
            r#"<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>"#,
            r.mode.s3_name(),
            r.until.strftime("%Y-%m-%dT%H:%M:%SZ")
        );
        let sum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
        let headers = [
            ("x-amz-sdk-checksum-algorithm", "SHA256".to_string()),
            ("x-amz-checksum-sha256", sum),
            ("content-type", "application/xml".to_string()),
        ];
        let reply = self
            .send(
                http::Method::PUT,
                Some(key),
                &[("retention", "")],
                &headers,
                Bytes::from(body),
            )
            .await?;
        if reply.status != 200 {
            return Err(Self::failure(&reply, &format!("locking {key}")));
        }
        Ok(())
    }

    /// Makes version `version` of `key` its current content again (a server-side copy:
    /// nothing is deleted, the newer versions stay), locked as `retention` says.
    pub(crate) async fn restore(
        &self,
        key: &str,
        version: &str,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        let source = format!(
            "/{}/{}?versionId={}",
            self.bucket,
            encode_key(key),
            encode_query(version)
        );
        let mut headers = vec![
            ("x-amz-copy-source", source),
            ("x-amz-checksum-algorithm", "SHA256".to_string()),
            ("x-amz-sdk-checksum-algorithm", "SHA256".to_string()),
        ];
        headers.extend(retention.map(lock_headers).unwrap_or_default());
        let reply = self
            .send(http::Method::PUT, Some(key), &[], &headers, Bytes::new())
            .await?;
        // A copy can fail after its 200 (the error is in the body).
        if reply.status != 200 || !error_code(&reply.body).is_empty() {
            return Err(Self::failure(
                &reply,
                &format!("restoring {key} ({version})"),
            ));
        }
        Ok(())
    }

    /// Deletes one version (or delete marker) of `key`: refused by the store while the
    /// version is locked.
    pub(crate) async fn delete_version(&self, key: &str, version: &str) -> Result<(), StoreError> {
        let reply = self
            .send(
                http::Method::DELETE,
                Some(key),
                &[("versionId", version)],
                &[],
                Bytes::new(),
            )
            .await?;
        match reply.status {
            200 | 204 | 404 => Ok(()),
            403 => Err(StoreError::Locked(format!(
                "{key} ({version}): the store refused to delete this version: it is locked (Object Lock) or these credentials may not delete versions (s3:DeleteObjectVersion)"
            ))),
            _ => Err(Self::failure(&reply, &format!("deleting {key} ({version})"))),
        }
    }
}

/// The headers that lock an object as it is written.
pub(crate) fn lock_headers(r: &Retention) -> Vec<(&'static str, String)> {
    vec![
        ("x-amz-object-lock-mode", r.mode.s3_name().to_string()),
        (
            "x-amz-object-lock-retain-until-date",
            r.until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
    ]
}

/// The text of the first `<name>` element (the settings documents are tiny and flat).
fn tag(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let (_, rest) = text.split_once(&open)?;
    let (value, _) = rest.split_once(&close)?;
    Some(value.trim().to_string())
}

/// ListObjectVersions' reply.
mod xml {
    use super::{ObjectVersion, StoreError};

    #[derive(Debug, serde::Deserialize)]
    pub struct ListVersions {
        #[serde(rename = "IsTruncated", default)]
        pub truncated: bool,
        #[serde(rename = "NextKeyMarker")]
        pub next_key_marker: Option<String>,
        #[serde(rename = "NextVersionIdMarker")]
        pub next_version_marker: Option<String>,
        #[serde(rename = "Version", default)]
        versions: Vec<Entry>,
        #[serde(rename = "DeleteMarker", default)]
        markers: Vec<Entry>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Entry {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "VersionId")]
        version_id: String,
        #[serde(rename = "IsLatest", default)]
        latest: bool,
        #[serde(rename = "LastModified")]
        modified: String,
        #[serde(rename = "Size", default)]
        size: u64,
    }

    impl ListVersions {
        pub fn entries(&self) -> Result<Vec<ObjectVersion>, StoreError> {
            let one = |e: &Entry, delete_marker: bool| -> Result<ObjectVersion, StoreError> {
                Ok(ObjectVersion {
                    key: e.key.clone(),
                    version_id: e.version_id.clone(),
                    latest: e.latest,
                    modified: e.modified.parse().map_err(|_| {
                        StoreError::Other(format!(
                            "{}: unreadable LastModified {:?}",
                            e.key, e.modified
                        ))
                    })?,
                    size: e.size,
                    delete_marker,
                })
            };
            self.versions
                .iter()
                .map(|e| one(e, false))
                .chain(self.markers.iter().map(|e| one(e, true)))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_for_the_path() {
        assert_eq!(encode_key("db/2026 x/a+b"), "db/2026%20x/a%2Bb");
        assert_eq!(encode_query("a/b"), "a%2Fb");
    }

    #[test]
    fn a_listing_with_versions_and_markers_interleaved() {
        let body = r#"<?xml version="1.0"?><ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a/b</NextKeyMarker><NextVersionIdMarker>v2</NextVersionIdMarker><Version><Key>a/b</Key><VersionId>v3</VersionId><IsLatest>false</IsLatest><LastModified>2026-12-06T20:42:28.000Z</LastModified><Size>3</Size></Version><DeleteMarker><Key>a/b</Key><VersionId>m1</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-06T20:42:29.000Z</LastModified></DeleteMarker><Version><Key>a/b</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest><LastModified>2026-12-06T20:42:27.000Z</LastModified><Size>4</Size></Version></ListVersionsResult>"#;
        let page: xml::ListVersions = quick_xml::de::from_str(body).unwrap();
        assert!(page.truncated);
        assert_eq!(page.next_version_marker.as_deref(), Some("v2"));
        let e = page.entries().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e.iter().filter(|v| v.delete_marker).count(), 1);
        assert!(e.iter().any(|v| v.delete_marker && v.latest));
    }

    #[test]
    fn error_codes_and_settings_are_read() {
        assert_eq!(
            error_code(b"<Error><Code>AccessDenied</Code></Error>"),
            "AccessDenied"
        );
        let lock = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
        assert_eq!(tag(lock, "Mode").as_deref(), Some("GOVERNANCE"));
        assert_eq!(tag(lock, "Days").as_deref(), Some("1"));
    }
}
