//! The multipart uploads a killed run left unfinished on S3, found and aborted: `object_store`
//! aborts an upload its part drops, but a process killed with SIGKILL drops nothing, and no
//! listing shows such uploads, though the bucket keeps (and bills) their parts. S3 lists them
//! (`GET ?uploads&prefix=`) and aborts each (`DELETE key?uploadId=`); these two calls are signed
//! with the store's own credentials and SigV4 signer, the endpoint and addressing style as the
//! store's client has them. GCS and Azure need no such thing here: the README says how their
//! lifecycle rules (and Azure on its own) drop what is left.

use std::sync::Arc;

use object_store::aws::{AmazonS3, AwsAuthorizer};

/// Pages of 1,000 uploads read at most: a prefix of one table's stagings holds a few.
const MAX_PAGES: usize = 10;

/// What the signed calls need of an S3 store.
#[derive(Debug, Clone)]
pub(crate) struct S3Uploads {
    store: Arc<AmazonS3>,
    /// `https://s3.REGION.amazonaws.com/BUCKET`, `http://127.0.0.1:9000/BUCKET`,
    /// `https://BUCKET.s3.REGION.amazonaws.com`: where the bucket's keys are.
    bucket_url: String,
    region: String,
    client: reqwest::Client,
}

impl S3Uploads {
    pub(crate) fn new(store: Arc<AmazonS3>, bucket_url: String, region: String) -> S3Uploads {
        S3Uploads { store, bucket_url: bucket_url.trim_end_matches('/').to_string(), region, client: reqwest::Client::new() }
    }

    /// Aborts every unfinished upload under `prefix`; how many it aborted.
    pub(crate) async fn abort_under(&self, prefix: &str) -> Result<usize, String> {
        let mut aborted = 0;
        let mut marker: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let mut url = format!("{}?prefix={}&uploads=", self.bucket_url, encode(prefix, false));
            if let Some((key, id)) = &marker {
                url.push_str(&format!("&key-marker={}&upload-id-marker={}", encode(key, false), encode(id, false)));
            }
            let page = self.send(http::Method::GET, &url).await?;
            for (key, id) in uploads(&page) {
                let url = format!("{}/{}?uploadId={}", self.bucket_url, encode(&key, true), encode(&id, false));
                self.send(http::Method::DELETE, &url).await?;
                aborted += 1;
            }
            if tag(&page, "IsTruncated").as_deref() != Some("true") {
                break;
            }
            marker = tag(&page, "NextKeyMarker").zip(tag(&page, "NextUploadIdMarker"));
        }
        Ok(aborted)
    }

    /// Sends a signed request with no body; the answer's body, or why not.
    async fn send(&self, method: http::Method, url: &str) -> Result<String, String> {
        let credential = self.store.credentials().get_credential().await.map_err(|e| e.to_string())?;
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .body(object_store::client::HttpRequestBody::from(Vec::new()))
            .map_err(|e| e.to_string())?;
        AwsAuthorizer::new(&credential, "s3", &self.region).try_authorize(&mut request, None).map_err(|e| e.to_string())?;
        let mut outgoing = self.client.request(method, url);
        for (name, value) in request.headers() {
            outgoing = outgoing.header(name, value);
        }
        let answer = outgoing.send().await.map_err(|e| e.without_url().to_string())?;
        let status = answer.status();
        let body = answer.text().await.map_err(|e| e.without_url().to_string())?;
        if !status.is_success() && status != reqwest::StatusCode::NOT_FOUND {
            return Err(format!("{status}, {}", tag(&body, "Code").unwrap_or_default()));
        }
        Ok(body)
    }
}

/// `text` percent-encoded as S3 wants it in a path (`/` kept) or a query value.
fn encode(text: &str, path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            b'/' if path => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The first `<name>...</name>` in `xml`, unescaped.
fn tag(xml: &str, name: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{name}>"))?;
    let (value, _) = rest.split_once(&format!("</{name}>"))?;
    Some(unescape(value))
}

/// Each `<Upload>`'s key and upload id.
fn uploads(xml: &str) -> Vec<(String, String)> {
    xml.split("<Upload>").skip(1).filter_map(|upload| Some((tag(upload, "Key")?, tag(upload, "UploadId")?))).collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_uploads_a_listing_names_and_encodes_keys_as_s3_signs_them() {
        let page = "<ListMultipartUploadsResult><Upload><Key>lake/a&amp;b/part-00000.parquet</Key><UploadId>id1</UploadId></Upload>\
                    <Upload><Key>lake/role=user/part-00001.parquet</Key><UploadId>id/2</UploadId></Upload>\
                    <IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
        assert_eq!(
            uploads(page),
            [
                ("lake/a&b/part-00000.parquet".to_string(), "id1".to_string()),
                ("lake/role=user/part-00001.parquet".to_string(), "id/2".to_string())
            ]
        );
        assert_eq!(tag(page, "IsTruncated").as_deref(), Some("false"));
        assert_eq!(encode("lake/role=user/part 1.parquet", true), "lake/role%3Duser/part%201.parquet");
        assert_eq!(encode("id/2", false), "id%2F2");
    }
}
