//! Image file formats detected from magic bytes (as LXD's `DetectCompressionFile` does, never
//! from file names), stream decompressors for every compression LXD accepts, and compressors
//! for the builders.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use super::{ImageError, Result};

/// How many bytes of a file the detection looks at (LXD reads 263: up to the `ustar` magic).
const HEADER_LEN: usize = 263;

/// Read buffer for compressed input.
const INPUT_BUFFER: usize = 1 << 20;

/// Size of the decompressed chunks handed from the decompression thread.
const CHUNK: usize = 1 << 20;

/// A tarball's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tarball (`ustar` magic at offset 257).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZ`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// Legacy lzma (`5d 00 00`).
    Lzma,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The extension LXD associates with it (`.tar.xz`, ...).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".tar",
            Compression::Gzip => ".tar.gz",
            Compression::Bzip2 => ".tar.bz2",
            Compression::Xz => ".tar.xz",
            Compression::Lzma => ".tar.lzma",
            Compression::Zstd => ".tar.zst",
        }
    }
}

/// What an image file is, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// A tarball, possibly compressed.
    Tarball(Compression),
    /// A squashfs file system (`hsqs`), only valid as the rootfs of a split image.
    Squashfs,
    /// A qcow2 disk (`QFI`), the rootfs of a virtual-machine image.
    Qcow2,
}

/// Classifies the first bytes of a file the way LXD's `DetectCompressionFile` does.
pub fn classify(header: &[u8]) -> Option<FileFormat> {
    let at = |range: std::ops::Range<usize>| header.get(range);
    let fmt = if at(0..2) == Some(b"BZ") {
        FileFormat::Tarball(Compression::Bzip2)
    } else if at(0..2) == Some(&[0x1f, 0x8b]) {
        FileFormat::Tarball(Compression::Gzip)
    } else if at(1..5) == Some(b"7zXZ") && header[0] == 0xfd {
        FileFormat::Tarball(Compression::Xz)
    } else if at(1..5) == Some(b"7zXZ") || at(0..3) == Some(&[0x5d, 0x00, 0x00]) {
        FileFormat::Tarball(Compression::Lzma)
    } else if at(257..262) == Some(b"ustar") {
        FileFormat::Tarball(Compression::None)
    } else if at(0..4) == Some(b"hsqs") {
        FileFormat::Squashfs
    } else if at(0..3) == Some(b"QFI") {
        FileFormat::Qcow2
    } else if at(0..4) == Some(&[0x28, 0xb5, 0x2f, 0xfd]) {
        FileFormat::Tarball(Compression::Zstd)
    } else {
        return None;
    };
    Some(fmt)
}

fn read_header(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| ImageError::io(path, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut f)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(|e| ImageError::io(path, e))?;
    Ok(header)
}

/// Detects what the file at `path` is from its magic bytes.
pub fn detect_format(path: &Path) -> Result<FileFormat> {
    let header = read_header(path)?;
    if header.is_empty() {
        return Err(ImageError::invalid(path, "the file is empty"));
    }
    classify(&header).ok_or_else(|| {
        ImageError::invalid(
            path,
            "unsupported format: not a tarball (plain, xz, gzip, bzip2, zstd, lzma) nor squashfs",
        )
    })
}

/// Detects the compression of the tarball at `path` from its magic bytes; a squashfs or qcow2
/// file, or anything unrecognised, is [`ImageError::Invalid`].
pub fn detect_compression(path: &Path) -> Result<Compression> {
    match detect_format(path)? {
        FileFormat::Tarball(c) => Ok(c),
        FileFormat::Squashfs => Err(ImageError::invalid(path, "a squashfs file, not a tarball")),
        FileFormat::Qcow2 => Err(ImageError::invalid(path, "a qcow2 disk, not a tarball")),
    }
}

/// A zstd stream of one or more frames (skippable frames are skipped), decoded with `ruzstd`.
struct ZstdReader<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    fn new(source: R) -> Self {
        ZstdReader {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.source.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.decoder.init(&mut self.source) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        let skipped =
                            io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                        if skipped != u64::from(length) {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "zstd: truncated skippable frame",
                            ));
                        }
                        continue;
                    }
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
            if self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(CHUNK))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() && self.decoder.can_collect() == 0 {
                self.in_frame = false;
            }
        }
    }
}

/// Wraps `file` (positioned at its start) in the decompressor for `compression`.
pub fn decoder(file: File, compression: Compression) -> io::Result<Box<dyn Read + Send>> {
    let input = BufReader::with_capacity(INPUT_BUFFER, file);
    Ok(match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Lzma => {
            let stream = liblzma::stream::Stream::new_lzma_decoder(u64::MAX)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(input, stream))
        }
        Compression::Zstd => Box::new(ZstdReader::new(input)),
    })
}

/// Opens the tarball at `path` and returns a reader of its decompressed bytes and the
/// compression found.
pub fn open_tarball(path: &Path) -> Result<(Box<dyn Read + Send>, Compression)> {
    let compression = detect_compression(path)?;
    let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
    let reader = decoder(file, compression).map_err(|e| ImageError::io(path, e))?;
    Ok((reader, compression))
}

/// A reader fed by a thread that decompresses ahead, so that decompression and the writing of
/// files use two cores.
pub struct ReadAhead {
    rx: Option<mpsc::Receiver<io::Result<Vec<u8>>>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
    thread: Option<thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts reading `inner` on a new thread, `depth` chunks of 1 MiB ahead.
    pub fn new(mut inner: Box<dyn Read + Send>, depth: usize) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(depth.max(1));
        let thread = thread::Builder::new()
            .name("image-decompress".into())
            .spawn(move || loop {
                let mut chunk = vec![0u8; CHUNK];
                let mut filled = 0;
                let result = loop {
                    match inner.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                let last = filled == 0;
                let msg = match result {
                    Ok(()) => Ok(chunk),
                    Err(e) => Err(e),
                };
                let failed = msg.is_err();
                if tx.send(msg).is_err() || last || failed {
                    return;
                }
            })?;
        Ok(ReadAhead {
            rx: Some(rx),
            current: Vec::new(),
            pos: 0,
            done: false,
            thread: Some(thread),
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            let rx = self.rx.as_ref().expect("receiver present until drop");
            match rx.recv() {
                Ok(Ok(chunk)) => {
                    if chunk.is_empty() {
                        self.done = true;
                    }
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "decompression thread ended early",
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Dropping the receiver makes the thread's next send fail, so it ends.
        self.rx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A compressor writing to a file, for the builders.
pub enum Encoder {
    /// No compression.
    None(io::BufWriter<File>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<io::BufWriter<File>>),
    /// xz.
    Xz(liblzma::write::XzEncoder<io::BufWriter<File>>),
    /// bzip2.
    Bzip2(bzip2::write::BzEncoder<io::BufWriter<File>>),
}

impl Encoder {
    /// A compressor for `compression` at `level` (0-9, clamped) writing to `file`. zstd and
    /// lzma are read but not written (no encoder among the project's dependencies).
    pub fn new(file: File, compression: Compression, level: u32, path: &Path) -> Result<Self> {
        let out = io::BufWriter::with_capacity(INPUT_BUFFER, file);
        let level = level.min(9);
        Ok(match compression {
            Compression::None => Encoder::None(out),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level),
            )),
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(out, level)),
            Compression::Bzip2 => Encoder::Bzip2(bzip2::write::BzEncoder::new(
                out,
                bzip2::Compression::new(level.max(1)),
            )),
            Compression::Zstd | Compression::Lzma => {
                return Err(ImageError::Destination {
                    path: path.to_path_buf(),
                    reason: format!(
                        "cannot write {} tarballs (only xz, gzip, bzip2 or none)",
                        compression.extension()
                    ),
                })
            }
        })
    }

    /// Flushes the compressor and the file, and syncs the file to disk.
    pub fn finish(self) -> io::Result<()> {
        let out = match self {
            Encoder::None(w) => w,
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Xz(e) => e.finish()?,
            Encoder::Bzip2(e) => e.finish()?,
        };
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Bzip2(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Bzip2(e) => e.flush(),
        }
    }
}
