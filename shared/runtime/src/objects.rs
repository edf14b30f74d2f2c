//! The object storage ports this crate wires: files under the data dir for the embedded
//! backend (with signed, expiring URLs the dev server answers at `/objects/<key>`), S3 on
//! AWS (`switchboard_aws::S3Objects`), and a stand-in that refuses when a deployment has
//! no bucket configured.
//!
//! A local signed URL is `<public url>/objects/<key>?method=GET&expires=<unix>&sig=<hex>`
//! with `sig = HMAC-SHA256(objects.key, method \n key \n expires \n content type)`; the key
//! file is 32 random bytes created 0600 in the data dir on first use, like the master
//! key. A `PUT` must carry the content type it was signed for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_core::objects::{Object, ObjectError, ObjectInfo, ObjectStore, valid_key};

/// Files under a directory, one per key, with the content type beside each.
pub struct FileObjects {
    root: PathBuf,
    key: Vec<u8>,
    public_url: String,
}

impl std::fmt::Debug for FileObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileObjects")
            .field("root", &self.root)
            .finish()
    }
}

fn io(e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(e.to_string())
}

/// The suffix of the file holding an object's content type.
const TYPE_SUFFIX: &str = ".content-type";

/// The content type stored beside the object at `path`.
async fn content_type_at(path: &Path) -> String {
    tokio::fs::read_to_string(format!("{}{TYPE_SUFFIX}", path.display()))
        .await
        .unwrap_or_else(|_| "application/octet-stream".into())
}

impl FileObjects {
    /// Objects under `<data_dir>/objects`, signed URLs under `public_url` (the dev
    /// server's address as browsers reach it).
    pub fn open(data_dir: &Path, public_url: &str) -> std::io::Result<Self> {
        let root = data_dir.join("objects");
        std::fs::create_dir_all(&root)?;
        let key =
            switchboard_core::files::read_or_create_private(&data_dir.join("objects.key"), || {
                switchboard_core::cipher::envelope::random::<32>()
                    .map(|k| k.to_vec())
                    .map_err(|_| std::io::Error::other("no randomness"))
            })?;
        Ok(Self {
            root,
            key,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        if !valid_key(key) || key.ends_with(TYPE_SUFFIX) {
            return Err(ObjectError::InvalidKey);
        }
        Ok(self.root.join(key))
    }

    fn signature(&self, method: &str, key: &str, expires: i64, content_type: &str) -> String {
        switchboard_webhooks::hmac_sha256_hex(
            &self.key,
            &[
                method.as_bytes(),
                b"\n",
                key.as_bytes(),
                b"\n",
                expires.to_string().as_bytes(),
                b"\n",
                content_type.as_bytes(),
            ],
        )
    }

    fn sign(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        self.path(key)?;
        let at = now.timestamp() + expires.as_secs() as i64;
        Ok(format!(
            "{}/objects/{key}?method={method}&expires={at}&sig={}",
            self.public_url,
            self.signature(method, key, at, content_type)
        ))
    }
}

#[async_trait]
impl ObjectStore for FileObjects {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        // Written beside, then renamed: a reader never sees half a file.
        let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &body).await.map_err(io)?;
        let type_path = PathBuf::from(format!("{}{TYPE_SUFFIX}", path.display()));
        tokio::fs::write(&type_path, content_type.as_bytes())
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        let path = self.path(key)?;
        let body = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        Ok(Some(Object {
            body,
            content_type: content_type_at(&path).await,
        }))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        let path = self.path(key)?;
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        Ok(Some(ObjectInfo {
            size: meta.len(),
            content_type: content_type_at(&path).await,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        for p in [
            path.clone(),
            PathBuf::from(format!("{}{TYPE_SUFFIX}", path.display())),
        ] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        self.sign("GET", key, "", expires, now)
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        self.sign("PUT", key, content_type, expires, now)
    }

    /// A request to `/objects/<key>` carries a valid, unexpired signature for `method`
    /// (and, for `PUT`, the content type it was signed for). Constant time.
    fn verify_signed(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        content_type: &str,
        sig: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let content_type = if method == "PUT" { content_type } else { "" };
        expires >= now.timestamp()
            && valid_key(key)
            && switchboard_webhooks::constant_time_eq(
                self.signature(method, key, expires, content_type)
                    .as_bytes(),
                sig.as_bytes(),
            )
    }
}

/// The object storage of a deployment without a bucket: every call says so, and the
/// features that need storage degrade (inbound media is served from Graph while Graph
/// still has it; presigned uploads answer 503).
#[derive(Debug, Default)]
pub struct NoObjects;

#[async_trait]
impl ObjectStore for NoObjects {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), ObjectError> {
        Err(ObjectError::Unavailable(
            "no MEDIA_BUCKET configured".into(),
        ))
    }
    async fn get(&self, _: &str) -> Result<Option<Object>, ObjectError> {
        Ok(None)
    }
    async fn head(&self, _: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        Ok(None)
    }
    async fn delete(&self, _: &str) -> Result<(), ObjectError> {
        Ok(())
    }
    async fn presign_get(
        &self,
        _: &str,
        _: Duration,
        _: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        Err(ObjectError::Unavailable(
            "no MEDIA_BUCKET configured".into(),
        ))
    }
    async fn presign_put(
        &self,
        _: &str,
        _: &str,
        _: Duration,
        _: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        Err(ObjectError::Unavailable(
            "no MEDIA_BUCKET configured".into(),
        ))
    }
}
