//! `http.Directory`: static files, the job of nginx's `root`. `new
//! http.Directory(root, options)` serves the files under `root` of the codebase
//! (or, with `fs: true`, of that folder of the codebase on disk, read with
//! their dates and by ranges; never outside it); `dir.serve(request)` answers a GET
//! or HEAD request with the file its path names, or returns `null` when there
//! is none (the script then answers as it likes, `dir.serve(msg) || notFound`).
//!
//! What it answers: the file with its `content-type` (from its extension;
//! `contentTypes` and `defaultContentType` change the table), `etag`,
//! `last-modified` (file system), `accept-ranges: bytes`; `304` for a matching
//! `If-None-Match` or a not-newer `If-Modified-Since`; one `Range: bytes=...`
//! as `206` (or `416` when it is past the end; `If-Range` is honoured); a
//! `.br` or `.gz` file beside it when the client accepts that encoding; an
//! index file (`index`, `index.html` unless `index` says) for a path ending in
//! `/`, and a `301` to the path with a `/` for a folder named without one.
//!
//! A path is percent-decoded and its `.` and `..` segments resolved; one that
//! climbs above `root`, holds a NUL or a backslash, or (file system) leads
//! through a link to outside `root` is not served (`null`). Files are read when
//! asked for, only the bytes a range asks; an answer longer than `maxFileSize`
//! (64 MiB), a whole file or a range, is not read and is answered `500`, with a
//! log line (a HEAD reads nothing and is answered).

use crate::api::globals::ReadFile;
use crate::api::message::JsMessage;
use proxy_core::{Data, Head, Headers, Message, ResponseHead, Tail};
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Class, Coerced, Ctx, Exception, JsLifetime, Object, Result, Value};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest file read whole for one answer.
const MAX_FILE_SIZE: u64 = 64 << 20;

/// Where the files come from.
enum Source {
    /// The codebase, under this folder (`''` for its root).
    Codebase { prefix: String, read: ReadFile },
    /// The file system, under this folder (as `canonicalize` gives it).
    Fs(PathBuf),
}

/// What one `http.Directory` is.
struct Directory {
    source: Source,
    index: Vec<String>,
    /// Content types by lowercase extension, when the script gave its own table.
    types: Option<HashMap<String, String>>,
    default_type: String,
    max_size: u64,
}

/// `http.Directory` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Directory")]
pub struct JsDirectory {
    #[qjs(skip_trace)]
    dir: Rc<Directory>,
}

/// A file found for a request.
struct Found {
    /// Its path under the root (`docs/index.html`), for the content type.
    name: String,
    size: u64,
    modified: Option<SystemTime>,
    /// Its bytes, when the source only gives them whole (the codebase).
    bytes: Option<Vec<u8>>,
    /// Where to read it (the file system).
    path: Option<PathBuf>,
}

/// What looking a request's path up gave.
enum Lookup {
    File(Found),
    /// A folder named without its final `/`.
    Folder,
    Missing,
}

fn type_error(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, &format!("http.Directory: {msg}"))
}

/// `path` (a request's, without its query) as segments under the root, or
/// `None` if it climbs out or holds what no file name may.
fn segments(path: &str) -> Option<Vec<String>> {
    let decoded = percent_decode(path)?;
    let mut out: Vec<String> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s if s.contains(['\0', '\\']) => return None,
            s => out.push(s.to_string()),
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Directory {
    fn lookup(&self, path: &str) -> Result<Lookup> {
        let Some(segs) = segments(path) else { return Ok(Lookup::Missing) };
        let rel = segs.join("/");
        let wants_folder = path.ends_with('/') || rel.is_empty();
        if !wants_folder {
            return Ok(match self.file(&rel) {
                Some(Ok(found)) => Lookup::File(found),
                Some(Err(())) => Lookup::Folder,
                // The codebase has no folders to see: one with an index file is one.
                None if self.index.iter().any(|i| matches!(self.file(&format!("{rel}/{i}")), Some(Ok(_)))) => {
                    Lookup::Folder
                }
                None => Lookup::Missing,
            });
        }
        for index in &self.index {
            let name = if rel.is_empty() { index.clone() } else { format!("{rel}/{index}") };
            if let Some(Ok(found)) = self.file(&name) {
                return Ok(Lookup::File(found));
            }
        }
        Ok(Lookup::Missing)
    }

    /// The file `rel` (a path under the root): `None` if there is none,
    /// `Err(())` if it is a folder.
    fn file(&self, rel: &str) -> Option<std::result::Result<Found, ()>> {
        match &self.source {
            Source::Codebase { prefix, read } => {
                let key = if prefix.is_empty() { rel.to_string() } else { format!("{prefix}/{rel}") };
                let bytes = read(&key).ok()??;
                Some(Ok(Found {
                    name: rel.into(),
                    size: bytes.len() as u64,
                    modified: None,
                    bytes: Some(bytes),
                    path: None,
                }))
            }
            Source::Fs(root) => {
                let path = root.join(rel).canonicalize().ok()?;
                if !path.starts_with(root) {
                    return None;
                }
                let meta = std::fs::metadata(&path).ok()?;
                if meta.is_dir() {
                    return Some(Err(()));
                }
                if !meta.is_file() {
                    return None;
                }
                let modified = meta.modified().ok();
                Some(Ok(Found { name: rel.into(), size: meta.len(), modified, bytes: None, path: Some(path) }))
            }
        }
    }

    fn content_type(&self, name: &str) -> String {
        let ext = name.rsplit('/').next().and_then(|f| f.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase());
        let Some(ext) = ext else { return self.default_type.clone() };
        match &self.types {
            Some(table) => table.get(&ext).cloned().unwrap_or_else(|| self.default_type.clone()),
            None => {
                mime_guess::from_ext(&ext).first_raw().map(String::from).unwrap_or_else(|| self.default_type.clone())
            }
        }
    }

    /// Bytes `from..from + len` of `found`.
    fn read(&self, found: &Found, from: u64, len: u64) -> std::io::Result<Vec<u8>> {
        if let Some(bytes) = &found.bytes {
            return Ok(bytes[from as usize..(from + len) as usize].to_vec());
        }
        let mut f = std::fs::File::open(found.path.as_ref().expect("a file system file has a path"))?;
        f.seek(SeekFrom::Start(from))?;
        let mut out = Vec::with_capacity(len as usize);
        f.take(len).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// The validator of a file: nginx's form (`"mtime-size"`, in hex) on the file
/// system, its size and a hash of its bytes in the codebase.
fn etag(found: &Found) -> String {
    match (&found.bytes, found.modified) {
        (Some(bytes), _) => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in bytes {
                h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
            }
            format!("\"{:x}-{h:x}\"", bytes.len())
        }
        (None, Some(m)) => {
            format!("\"{:x}-{:x}\"", m.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(), found.size)
        }
        (None, None) => format!("\"{:x}\"", found.size),
    }
}

/// Whether one of the entity tags in an `If-None-Match` value is `tag` (weakly).
fn matches_tag(list: &str, tag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// A `Range` value's one range, as offsets into a file of `size` bytes:
/// `Some(Ok(..))` to answer 206, `Some(Err(()))` for 416, `None` to ignore it.
fn range(value: &str, size: u64) -> Option<std::result::Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // Several ranges: the whole file answers them.
    }
    let (a, b) = spec.trim().split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().ok()?;
        let end =
            if b.is_empty() { size.saturating_sub(1) } else { b.parse::<u64>().ok()?.min(size.saturating_sub(1)) };
        if !b.is_empty() && b.parse::<u64>().ok()? < start {
            return None;
        }
        (start, end)
    };
    if start >= size {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

fn answer(status: u16, headers: Headers, body: Vec<u8>) -> Message {
    let head = ResponseHead { status, headers, ..ResponseHead::default() };
    Message { head: Head::Response(head), body: Data::from(body), tail: Tail::default() }
}

#[rquickjs::methods]
impl JsDirectory {
    /// `new http.Directory(root, options?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, root: Coerced<String>, options: Opt<Object<'_>>) -> Result<Self> {
        let root = root.0;
        let opt = |name: &str| -> Result<Option<Value<'_>>> {
            Ok(match &options.0 {
                Some(o) => Some(o.get::<_, Value>(name)?).filter(|v| !v.is_undefined() && !v.is_null()),
                None => None,
            })
        };
        if let Some(o) = &options.0 {
            for key in o.keys::<String>() {
                let key = key?;
                match key.as_str() {
                    "fs" | "index" | "contentTypes" | "defaultContentType" | "maxFileSize" => {}
                    "tarball" | "compression" => {
                        return Err(type_error(
                            &ctx,
                            &format!("option '{key}' is not supported (use compressHTTP to compress answers)"),
                        ))
                    }
                    other => return Err(type_error(&ctx, &format!("unknown option '{other}'"))),
                }
            }
        }
        let fs = opt("fs")?.is_some_and(|v| v.as_bool().unwrap_or(false) || v.as_int().is_some_and(|n| n != 0));
        let source = if fs {
            // A script reaches no file outside its codebase: the folder is one of
            // the codebase's own, on disk.
            let folder = crate::api::globals::codebase_folder().ok_or_else(|| {
                type_error(&ctx, "fs: true serves a folder of a codebase on disk, not of one from a URL")
            })?;
            let folder = folder.canonicalize().unwrap_or(folder);
            let dir = folder.join(root.trim_start_matches('/'));
            let canonical =
                dir.canonicalize().map_err(|e| type_error(&ctx, &format!("cannot open folder '{root}': {e}")))?;
            if !canonical.starts_with(&folder) {
                return Err(type_error(&ctx, &format!("'{root}' is outside the codebase's folder")));
            }
            if !canonical.is_dir() {
                return Err(type_error(&ctx, &format!("'{root}' is not a folder")));
            }
            Source::Fs(canonical)
        } else {
            let read = crate::api::globals::codebase_reader()
                .ok_or_else(|| type_error(&ctx, "there is no codebase to serve files from"))?;
            let prefix = crate::load::files::codebase_path(&root).map_err(|why| type_error(&ctx, &why))?;
            Source::Codebase { prefix, read }
        };
        let index = match opt("index")? {
            None => vec!["index".into(), "index.html".into()],
            Some(v) => match v.as_array() {
                Some(a) => a.iter::<Coerced<String>>().map(|s| s.map(|s| s.0)).collect::<Result<_>>()?,
                None => vec![v.get::<Coerced<String>>()?.0],
            },
        };
        let types = match opt("contentTypes")? {
            None => None,
            Some(v) => {
                let o = v.as_object().filter(|_| !v.is_function()).ok_or_else(|| {
                    type_error(&ctx, "contentTypes must be an object of extension: type (a function is not supported)")
                })?;
                let mut table = HashMap::new();
                for prop in o.props::<String, Coerced<String>>() {
                    let (k, v) = prop?;
                    table.insert(k.trim_start_matches('.').to_ascii_lowercase(), v.0);
                }
                Some(table)
            }
        };
        let default_type = match opt("defaultContentType")? {
            Some(v) => v.get::<Coerced<String>>()?.0,
            None => "application/octet-stream".into(),
        };
        let max_size = match opt("maxFileSize")? {
            Some(v) => {
                let text = v.get::<Coerced<String>>()?.0;
                proxy_core::parse_size(&text)
                    .ok_or_else(|| type_error(&ctx, &format!("maxFileSize '{text}' is not a size")))?
                    as u64
            }
            None => MAX_FILE_SIZE,
        };
        Ok(JsDirectory { dir: Rc::new(Directory { source, index, types, default_type, max_size }) })
    }

    /// The answer to `request`, or `null` when no file answers it.
    pub fn serve<'js>(&self, ctx: Ctx<'js>, request: Value<'js>) -> Result<Value<'js>> {
        let msg = Class::<JsMessage>::from_value(&request)
            .map_err(|_| type_error(&ctx, "serve() takes the request Message"))?
            .borrow()
            .to_message(&ctx)?;
        let Head::Request(req) = &msg.head else {
            return Err(type_error(&ctx, "serve(): the message is not a request"));
        };
        let head_only = match req.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => return Ok(Value::new_null(ctx)),
        };
        let target = req.path.as_str();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = path.split('#').next().unwrap_or("");
        let found = match self.dir.lookup(path)? {
            Lookup::File(f) => f,
            Lookup::Folder => {
                let mut h = Headers::new();
                // One leading slash: `//evil.example/x` is another host to a browser.
                let path = format!("/{}", path.trim_start_matches('/'));
                let location = match query {
                    Some(q) => format!("{path}/?{q}"),
                    None => format!("{path}/"),
                };
                h.set("location", location);
                return crate::api::convert::message_to_js(&ctx, answer(301, h, Vec::new()));
            }
            Lookup::Missing => return Ok(Value::new_null(ctx)),
        };
        let accepts = |enc: &str| {
            req.headers.get_all("accept-encoding").flat_map(|v| v.split(',')).any(|item| {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                name.eq_ignore_ascii_case(enc) && !refused
            })
        };
        let content_type = self.dir.content_type(&found.name);
        // A precompressed sibling, when the client takes it.
        let mut encoded = None;
        let mut vary = false;
        for (enc, ext) in [("br", "br"), ("gzip", "gz")] {
            if let Some(Ok(sibling)) = self.dir.file(&format!("{}.{ext}", found.name)) {
                vary = true;
                if encoded.is_none() && accepts(enc) {
                    encoded = Some((enc, sibling));
                }
            }
        }
        let mut h = Headers::new();
        h.set("content-type", content_type);
        let (served, encoding) = match encoded {
            Some((enc, f)) => (f, Some(enc)),
            None => (found, None),
        };
        let tag = etag(&served);
        h.set("etag", tag.clone());
        let modified = served.modified.map(httpdate::fmt_http_date);
        if let Some(m) = &modified {
            h.set("last-modified", m.clone());
        }
        if let Some(enc) = encoding {
            h.set("content-encoding", enc);
        }
        if vary {
            h.set("vary", "Accept-Encoding");
        }
        // Conditional requests.
        let not_modified = match req.headers.get("if-none-match") {
            Some(list) => matches_tag(list, &tag),
            None => match (
                req.headers.get("if-modified-since").and_then(|v| httpdate::parse_http_date(v).ok()),
                served.modified,
            ) {
                (Some(since), Some(m)) => m.duration_since(since).map_or(true, |d| d < Duration::from_secs(1)),
                _ => false,
            },
        };
        if not_modified {
            return crate::api::convert::message_to_js(&ctx, answer(304, h, Vec::new()));
        }
        let size = served.size;
        let ranged = match (req.headers.get("range"), encoding) {
            (Some(r), None) => {
                let fresh = match req.headers.get("if-range") {
                    None => true,
                    Some(v) if v.starts_with('"') || v.starts_with("W/") => v == tag,
                    Some(v) => modified.as_deref() == Some(v),
                };
                if fresh {
                    range(r, size)
                } else {
                    None
                }
            }
            _ => None,
        };
        h.set("accept-ranges", "bytes");
        let (status, from, len) = match ranged {
            Some(Err(())) => {
                h.set("content-range", format!("bytes */{size}"));
                return crate::api::convert::message_to_js(&ctx, answer(416, h, Vec::new()));
            }
            Some(Ok((start, end))) => {
                h.set("content-range", format!("bytes {start}-{end}/{size}"));
                (206, start, end - start + 1)
            }
            None => (200, 0, size),
        };
        if !head_only && len > self.dir.max_size {
            tracing::warn!(
                "http.Directory: {} bytes of {} asked for, more than maxFileSize ({}): not served",
                len,
                served.name,
                self.dir.max_size
            );
            let mut h = Headers::new();
            h.set("content-type", "text/plain");
            return crate::api::convert::message_to_js(&ctx, answer(500, h, b"file too large\n".to_vec()));
        }
        let body = if head_only {
            h.set("content-length", len.to_string());
            Vec::new()
        } else {
            match self.dir.read(&served, from, len) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("http.Directory: cannot read {}: {e}", served.name);
                    return Ok(Value::new_null(ctx));
                }
            }
        };
        crate::api::convert::message_to_js(&ctx, answer(status, h, body))
    }
}

/// Adds `http.Directory` to the `http` namespace.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let g = ctx.globals();
    let http: Object = match g.get::<_, Option<Object>>("http")? {
        Some(o) => o,
        None => {
            let o = Object::new(ctx.clone())?;
            g.set("http", o.clone())?;
            o
        }
    };
    Class::<JsDirectory>::define(&http)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(segments("/a/b.html"), Some(vec!["a".into(), "b.html".into()]));
        assert_eq!(segments("/a/./b/../c"), Some(vec!["a".into(), "c".into()]));
        assert_eq!(segments("/%61%2Fb"), Some(vec!["a".into(), "b".into()]));
        for bad in ["/../x", "/a/../../x", "/%2e%2e/x", "/a%00b", "/a\\b", "/%zz", "/%c3"] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=-0", 100), Some(Err(())));
        assert_eq!(range("bytes=9-0", 100), None);
        assert_eq!(range("bytes=0-1,5-6", 100), None);
        assert_eq!(range("items=0-1", 100), None);
        assert_eq!(range("bytes=x-1", 100), None);
    }

    #[test]
    fn entity_tags_match_weakly_and_by_star() {
        assert!(matches_tag("\"a\", W/\"b\"", "\"b\""));
        assert!(matches_tag("*", "\"x\""));
        assert!(!matches_tag("\"a\"", "\"b\""));
    }
}
