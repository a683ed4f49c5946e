//! (ssr) The compiled site's static files (wasm, JS, CSS, icons): compressed once, next to the
//! originals, as brotli and gzip (the file handler sends those to browsers that accept them), and
//! cached by browsers for a year when their name carries the build's hash (cargo-leptos'
//! `hash-files`), revalidated on every use otherwise.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Kinds of file worth compressing (images such as PNG already are).
const COMPRESSIBLE: [&str; 8] = ["wasm", "js", "css", "svg", "html", "json", "txt", "map"];
/// Below this size a compressed copy saves less than it costs to look for it.
const MIN_SIZE: u64 = 1024;
/// Brotli's best quality takes seconds on a release wasm (2 MB); a debug wasm is ten times larger,
/// so above this size a faster quality keeps a start-up short.
const BEST_QUALITY_UP_TO: u64 = 8 * 1024 * 1024;

/// A year: what browsers may keep a file whose name changes with its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files whose name stays the same across builds: kept, but checked before each use (a 304 when
/// unchanged).
pub const REVALIDATE: &str = "no-cache";

/// The hash file cargo-leptos writes when it builds the site with `hash-files` (lines `js: …`,
/// `wasm: …`, `css: …`): next to the server binary, or where `LEPTOS_HASH_FILE_NAME` says (a name
/// beside the binary, or an absolute path: the same variable for the build and the server). Leptos
/// reads the same file to name the files in the page, so a binary without one serves and names
/// the unhashed files.
pub fn hash_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let file = exe.parent()?.join(hash_file_name());
    file.is_file().then_some(file)
}

/// `LEPTOS_HASH_FILE_NAME`, or cargo-leptos' default `hash.txt`.
pub fn hash_file_name() -> String {
    std::env::var("LEPTOS_HASH_FILE_NAME").unwrap_or_else(|_| "hash.txt".to_owned())
}

/// The build's hashes (`file: hash` lines); empty without a hash file.
fn build_hashes() -> Vec<String> {
    let Some(text) = hash_file().and_then(|f| std::fs::read_to_string(f).ok()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(_, hash)| hash.trim().to_owned())
        .filter(|hash| hash.len() >= 8)
        .collect()
}

/// What the cache middleware needs to know of the site: which paths are its files, and the
/// hashes that make a name immutable.
pub struct SiteFiles {
    pkg_prefix: String,
    /// Files at the site root outside the package directory (`/favicon.svg`, …).
    root_files: HashSet<String>,
    hashes: Vec<String>,
}

impl SiteFiles {
    pub fn of(options: &leptos::config::LeptosOptions) -> Arc<Self> {
        let root = Path::new(options.site_root.as_ref());
        let pkg = options.site_pkg_dir.to_string();
        let root_files = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(|n| format!("/{n}")))
            .collect();
        Arc::new(Self {
            pkg_prefix: format!("/{pkg}/"),
            root_files,
            hashes: build_hashes(),
        })
    }

    /// The `Cache-Control` of the site file at `path`, or `None` when `path` is not one.
    pub fn cache_control(&self, path: &str) -> Option<&'static str> {
        if path.starts_with(&self.pkg_prefix) {
            let name = path.rsplit('/').next().unwrap_or_default();
            let hashed = !self.hashes.is_empty()
                && (self.hashes.iter().any(|h| name.contains(h.as_str())) || has_hash_part(name));
            Some(if hashed { IMMUTABLE } else { REVALIDATE })
        } else if self.root_files.contains(path) {
            Some(REVALIDATE)
        } else {
            None
        }
    }
}

/// Whether a file name has a part that is a cargo-leptos content hash (`chunk_7.<hash>.wasm`: 22
/// URL-safe base64 characters, 128 bits), as the lazily loaded pieces of a split wasm do; their
/// hashes are not in the hash file.
fn has_hash_part(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|p| {
            p.len() == 22
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Sets `Cache-Control` (and `Vary: Accept-Encoding`, since a compressed copy may be sent) on the
/// site's files.
pub async fn cache_headers(
    State(files): State<Arc<SiteFiles>>,
    req: Request,
    next: Next,
) -> Response {
    let policy = files.cache_control(req.uri().path());
    let mut response = next.run(req).await;
    let served = matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED);
    if let (Some(policy), true) = (policy, served) {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        if !headers.contains_key(header::VARY) {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    response
}

/// What [`precompress`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compressed {
    /// Compressed copies written (each file gets a `.br` and a `.gz`).
    pub written: usize,
    /// Copies already up to date (newer than their file).
    pub current: usize,
}

/// Writes `FILE.br` and `FILE.gz` beside every compressible file under `root` that lacks an up to
/// date copy. Each copy is written to a temporary name and renamed, so a server starting beside
/// this one never sends half a file. A missing `root` (no site built) is nothing to do.
pub fn precompress(root: &Path) -> anyhow::Result<Compressed> {
    let mut done = Compressed::default();
    if !root.is_dir() {
        return Ok(done);
    }
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("read {}", dir.display()))?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && is_compressible(&path, entry.metadata()?.len()) {
                for encoding in [Encoding::Brotli, Encoding::Gzip] {
                    if compress_file(&path, encoding)? {
                        done.written += 1;
                    } else {
                        done.current += 1;
                    }
                }
            }
        }
    }
    Ok(done)
}

fn is_compressible(path: &Path, len: u64) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    len >= MIN_SIZE && COMPRESSIBLE.contains(&ext)
}

#[derive(Clone, Copy)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn suffix(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gz",
        }
    }
}

/// Compresses `source` into its `.br`/`.gz` copy unless that copy is newer; `true` when written.
fn compress_file(source: &Path, encoding: Encoding) -> anyhow::Result<bool> {
    let mut target = source.as_os_str().to_owned();
    target.push(format!(".{}", encoding.suffix()));
    let target = PathBuf::from(target);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(copy), Some(original)) = (modified(&target), modified(source)) {
        if copy >= original {
            return Ok(false);
        }
    }
    let data = std::fs::read(source).with_context(|| format!("read {}", source.display()))?;
    let compressed = match encoding {
        Encoding::Brotli => {
            let quality = if data.len() as u64 <= BEST_QUALITY_UP_TO {
                11
            } else {
                5
            };
            let mut out = Vec::with_capacity(data.len() / 3);
            let params = brotli::enc::BrotliEncoderParams {
                quality,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut data.as_slice(), &mut out, &params)?;
            out
        }
        Encoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 3),
                flate2::Compression::best(),
            );
            encoder.write_all(&data)?;
            encoder.finish()?
        }
    };
    let temporary = target.with_extension(format!(
        "{}.{}-{:08x}.tmp",
        encoding.suffix(),
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&temporary, &compressed)
        .with_context(|| format!("write {}", temporary.display()))?;
    std::fs::rename(&temporary, &target)
        .with_context(|| format!("rename to {}", target.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_copies_are_written_once_and_decompress_to_the_original() {
        let root = std::env::temp_dir().join(format!("keywarden-assets-{}", rand::random::<u64>()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        let text = "fn hydrate() {}\n".repeat(500);
        std::fs::write(pkg.join("app.js"), &text).unwrap();
        std::fs::write(pkg.join("tiny.css"), "a{}").unwrap();
        std::fs::write(pkg.join("photo.png"), vec![7u8; 4096]).unwrap();

        let first = precompress(&root).unwrap();
        assert_eq!(
            first,
            Compressed {
                written: 2,
                current: 0
            }
        );
        let again = precompress(&root).unwrap();
        assert_eq!(
            again,
            Compressed {
                written: 0,
                current: 2
            }
        );

        let mut unpacked = Vec::new();
        brotli::BrotliDecompress(
            &mut std::fs::read(pkg.join("app.js.br")).unwrap().as_slice(),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, text.as_bytes());
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(pkg.join("app.js.gz")).unwrap()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, text);
        assert!(!pkg.join("tiny.css.br").exists(), "too small to compress");
        assert!(
            !pkg.join("photo.png.br").exists(),
            "not a compressible kind"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_hashed_package_files_are_immutable() {
        let files = SiteFiles {
            pkg_prefix: "/pkg/".into(),
            root_files: HashSet::from(["/favicon.svg".to_owned()]),
            hashes: vec!["Ab12Cd34Ef56".into()],
        };
        assert_eq!(
            files.cache_control("/pkg/keywarden.Ab12Cd34Ef56.wasm"),
            Some(IMMUTABLE)
        );
        assert_eq!(files.cache_control("/pkg/keywarden.js"), Some(REVALIDATE));
        assert_eq!(
            files.cache_control("/pkg/chunk_12.yTE1WERl6l-8p7WFiyk63Q.wasm"),
            Some(IMMUTABLE),
            "a piece of the split wasm, hashed by name"
        );
        assert_eq!(files.cache_control("/pkg/chunk_12.wasm"), Some(REVALIDATE));
        assert_eq!(files.cache_control("/favicon.svg"), Some(REVALIDATE));
        assert_eq!(files.cache_control("/admin"), None);
    }
}
