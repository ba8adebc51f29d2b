//! The Parquet files of one query, held open from planning to the last read.
//!
//! Compaction deletes the files it merges into a bigger one. DataFusion looks a file up
//! when it plans the scan (one it cannot find is silently left out) and opens it only
//! when it reads it, so a merge running next to a query could drop rows from the answer
//! or fail it. A query therefore opens every file it reads as it starts and serves
//! DataFusion's reads from those handles: a deleted file stays readable while a handle
//! is open, so a query sees exactly the files it started with.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use futures::StreamExt;
use futures::stream::BoxStream;

/// A local file system whose listed files are read through handles opened up front.
#[derive(Debug)]
pub(crate) struct PinnedFiles {
    local: LocalFileSystem,
    files: HashMap<Path, (Arc<File>, ObjectMeta)>,
}

impl PinnedFiles {
    /// Opens every file of `paths` (absolute). Fails with the first path that cannot be
    /// opened (`NotFound` when compaction merged it away since it was listed).
    pub(crate) fn open(paths: &[PathBuf]) -> Result<Self, (PathBuf, std::io::Error)> {
        let mut files = HashMap::with_capacity(paths.len());
        for path in paths {
            let io = |e: std::io::Error| (path.clone(), e);
            let file = File::open(path).map_err(io)?;
            let metadata = file.metadata().map_err(io)?;
            let location = Path::from_absolute_path(path)
                .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())))?;
            let meta = ObjectMeta {
                location: location.clone(),
                last_modified: metadata.modified().map_err(io)?.into(),
                size: metadata.len(),
                e_tag: None,
                version: None,
            };
            files.insert(location, (Arc::new(file), meta));
        }
        Ok(Self { local: LocalFileSystem::new(), files })
    }
}

impl fmt::Display for PinnedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedFiles({} files)", self.files.len())
    }
}

fn generic(message: String) -> datafusion::object_store::Error {
    datafusion::object_store::Error::Generic { store: "PinnedFiles", source: message.into() }
}

#[async_trait]
impl ObjectStore for PinnedFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> datafusion::object_store::Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> datafusion::object_store::Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> datafusion::object_store::Result<GetResult> {
        let Some((file, meta)) = self.files.get(location) else {
            return self.local.get_opts(location, options).await;
        };
        let size = meta.size;
        let range = match options.range {
            None => 0..size,
            Some(GetRange::Bounded(r)) => r.start..r.end.min(size),
            Some(GetRange::Offset(start)) => start..size,
            Some(GetRange::Suffix(n)) => size.saturating_sub(n)..size,
        };
        if range.start > range.end || (range.start >= size && size > 0) {
            return Err(generic(format!("{location}: range {range:?} outside its {size} bytes")));
        }
        let payload = if options.head {
            futures::stream::empty().boxed()
        } else {
            let file = Arc::clone(file);
            let (start, len) = (range.start, usize::try_from(range.end - range.start).unwrap_or(usize::MAX));
            let name = location.to_string();
            let bytes = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; len];
                file.read_exact_at(&mut buf, start).map(|()| Bytes::from(buf))
            })
            .await
            .map_err(|e| generic(format!("{name}: read task failed: {e}")))?
            .map_err(|e| generic(format!("{name}: {e}")))?;
            futures::stream::once(async move { Ok(bytes) }).boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta: meta.clone(),
            range,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, datafusion::object_store::Result<Path>>,
    ) -> BoxStream<'static, datafusion::object_store::Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, datafusion::object_store::Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> datafusion::object_store::Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> datafusion::object_store::Result<()> {
        self.local.copy_opts(from, to, options).await
    }
}
