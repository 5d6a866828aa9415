//! The SQLite store's journal: sealed records are written here before any client sees
//! their statement's result, and reach the database tables later, many at a time (see
//! [`super::sqlite`] and [`super::appender`]).
//!
//! Why: a SQLite commit rewrites whole pages (the tails of the records table and of its
//! session lookup, each session's listing row); committing every group of statements
//! held recording to well under half the throughput of not recording. The journal takes
//! only the records' own bytes, and the tables are brought up to date a few times a
//! second, where each page holds many statements.
//!
//! The file has a fixed size and is written through once when created, so an append only
//! overwrites blocks the file already has: `fdatasync` then flushes data alone, with no
//! file-system metadata. It is used as two halves: frames follow each other from the
//! start of one half; when the next frame does not fit, writing moves to the start of
//! the other half, which must hold only frames the tables already have, durably. A frame
//! is `magic, number, body length, CRC-32` followed by its body; numbers only grow, so
//! reading a half from its start stops at the first frame that is torn, stale (not the
//! next number) or zeros. The store remembers the last frame it took, in the same
//! transaction as the records, so a frame is taken exactly once. When the daemon opens
//! the journal it takes what is there and writes the file through with zeros again, so
//! nothing written before can be mistaken for a later frame.
//!
//! One process appends: the daemon holds an exclusive `flock` on the file. Another
//! process (the CLI) that gets the lock knows no daemon is running and brings the
//! tables up to date itself.

use std::{
    fs::{File, OpenOptions},
    io::ErrorKind,
    os::unix::{
        fs::{FileExt, OpenOptionsExt},
        io::AsRawFd,
    },
    path::{Path, PathBuf},
};

use super::{chain::RecordRow, store::StoreError};

/// The file's size: each half holds several seconds of records at full speed.
pub const SIZE: u64 = 8 << 20;
const MAGIC: &[u8; 4] = b"CDJ1";
const HEADER: usize = 4 + 8 + 4 + 4;

/// A frame read back: its number and records.
pub struct Frame {
    pub number: u64,
    pub rows: Vec<RecordRow>,
}

/// A frame encoded but not yet numbered (see [`Journal::append`]).
pub struct Encoded(Vec<u8>);

impl Encoded {
    pub fn new(rows: &[RecordRow]) -> Self {
        Encoded(encode(rows))
    }
}

/// Why an append did not write.
#[derive(Debug)]
pub enum AppendError {
    /// The frame is larger than half the journal.
    TooLarge,
    /// The other half still holds frames the tables lack (durably).
    Full,
    /// Writing failed.
    Io(String),
}

pub struct Journal {
    file: File,
    path: PathBuf,
    size: u64,
    /// The half being written (0 or 1).
    half: usize,
    /// Where the next frame goes.
    at: u64,
    /// The next frame's number.
    next: u64,
    /// The newest frame written to each half since the journal was opened (0: none).
    newest_in: [u64; 2],
}

/// The journal beside the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".cordon-journal");
    PathBuf::from(name)
}

impl Journal {
    /// Opens (creating, mode 0600, written through to `size`) the journal at `path` and
    /// takes its lock; `Ok(None)` when another process holds it. Returns the frames it
    /// holds, by number (those the store already took among them).
    pub fn open(path: &Path, size: u64) -> Result<Option<(Journal, Vec<Frame>)>, StoreError> {
        let what = |e: std::io::Error| io_error(&format!("the journal {}", path.display()), e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(what)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                ErrorKind::WouldBlock => Ok(None),
                _ => Err(what(e)),
            };
        }
        let length = file.metadata().map_err(what)?.len();
        if length < size {
            write_through(&file, length, size).map_err(what)?;
        }
        let size = length.max(size);
        let frames = read_frames(&file, size).map_err(what)?;
        let journal = Journal {
            file,
            path: path.to_path_buf(),
            size,
            half: 0,
            at: 0,
            next: 1,
            newest_in: [0; 2],
        };
        Ok(Some((journal, frames)))
    }

    /// Empties the journal (zeros, synced): every frame it held is in the store,
    /// durably. The next frame is numbered `next`.
    pub fn start_over(&mut self, next: u64) -> Result<(), StoreError> {
        write_through(&self.file, 0, self.size)
            .map_err(|e| io_error(&format!("emptying the journal {}", self.path.display()), e))?;
        self.half = 0;
        self.at = 0;
        self.next = next;
        self.newest_in = [0; 2];
        Ok(())
    }

    /// Writes `frame` as the next frame (not synced: see [`Journal::sync`]) and returns
    /// its number. It goes to the other half when it does not fit in this one, if the
    /// tables durably hold every frame there (numbers up to `settled`). On failure
    /// nothing counts as written.
    pub fn append(&mut self, mut frame: Encoded, settled: u64) -> Result<u64, AppendError> {
        let half_size = self.size / 2;
        let length = frame.0.len() as u64;
        if length > half_size {
            return Err(AppendError::TooLarge);
        }
        if self.at + length > (self.half as u64 + 1) * half_size {
            let other = 1 - self.half;
            if self.newest_in[other] > settled {
                return Err(AppendError::Full);
            }
            self.half = other;
            self.at = other as u64 * half_size;
            self.newest_in[other] = 0;
        }
        let number = self.next;
        seal_frame(&mut frame.0, number);
        self.file.write_all_at(&frame.0, self.at).map_err(|e| {
            AppendError::Io(format!("writing the journal {}: {e}", self.path.display()))
        })?;
        self.at += length;
        self.newest_in[self.half] = number;
        self.next += 1;
        Ok(number)
    }

    /// The newest frame written (0: none since the journal was opened).
    pub fn newest(&self) -> u64 {
        self.next - 1
    }

    /// The newest frame in the half not being written: the tables must hold it
    /// durably before writing can move there.
    pub fn newest_in_other_half(&self) -> u64 {
        self.newest_in[1 - self.half]
    }

    /// A second handle on the file, to sync it without holding the journal.
    pub fn handle(&self) -> Result<File, StoreError> {
        self.file
            .try_clone()
            .map_err(|e| io_error(&format!("the journal {}", self.path.display()), e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The number of the newest frame in the journal at `path`, read without taking its
/// lock (a daemon may be appending); `None` when it holds none.
pub fn newest_frame(path: &Path) -> std::io::Result<Option<u64>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    Ok(read_frames(&file, size)?.last().map(|f| f.number))
}

/// The frames among `frames` (by number) that follow frame `taken` without a gap: a
/// frame after a gap was written after one that never reached the disk, and nothing
/// was acknowledged on the strength of it.
pub fn following(frames: Vec<Frame>, taken: u64) -> Vec<Frame> {
    let newer = frames.into_iter().filter(|f| f.number > taken);
    (taken + 1..)
        .zip(newer)
        .take_while(|(expected, frame)| frame.number == *expected)
        .map(|(_, frame)| frame)
        .collect()
}

/// Zeros from `from` to `size`, synced: later appends overwrite allocated blocks.
fn write_through(file: &File, from: u64, size: u64) -> std::io::Result<()> {
    // A page at a time: the page cache then holds the file in small folios, and an
    // append's write walks one page's buffers, not those of a folio of a megabyte
    // (measured: half the CPU of each append).
    let zeros = vec![0u8; 4096];
    let mut at = from;
    while at < size {
        let n = (size - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

/// Every frame in either half, by number.
fn read_frames(file: &File, size: u64) -> std::io::Result<Vec<Frame>> {
    let half = size / 2;
    let mut frames = read_half(file, 0, half)?;
    frames.extend(read_half(file, half, size)?);
    frames.sort_by_key(|f| f.number);
    Ok(frames)
}

/// The frames from `start`, in order, up to the first that is not the next one.
fn read_half(file: &File, start: u64, end: u64) -> std::io::Result<Vec<Frame>> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut at = start;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= end {
        file.read_exact_at(&mut header, at)?;
        if &header[..4] != MAGIC {
            break;
        }
        let number = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
        let length = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes")) as u64;
        let crc = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes"));
        let follows = frames.last().is_none_or(|last| number == last.number + 1);
        if !follows || at + HEADER as u64 + length > end {
            break;
        }
        let mut body = vec![0u8; length as usize];
        file.read_exact_at(&mut body, at + HEADER as u64)?;
        if checksum(number, &body) != crc {
            break;
        }
        let Some(rows) = decode(&body) else { break };
        frames.push(Frame { number, rows });
        at += HEADER as u64 + length;
    }
    Ok(frames)
}

fn checksum(number: u64, body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&number.to_le_bytes());
    crc.update(&(body.len() as u32).to_le_bytes());
    crc.update(body);
    crc.finalize()
}

const TEXTS_PER_ROW: usize = 5;

fn encoded_len(rows: &[RecordRow]) -> usize {
    HEADER
        + 4
        + rows
            .iter()
            .map(|r| {
                16 + 4 * TEXTS_PER_ROW
                    + r.session_id.len()
                    + r.kind.len()
                    + r.payload.len()
                    + r.prev_hash.len()
                    + r.hash.len()
            })
            .sum::<usize>()
}

/// The frame's bytes with room for its header, filled in by [`seal_frame`].
fn encode(rows: &[RecordRow]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(encoded_len(rows));
    frame.extend_from_slice(&[0u8; HEADER]);
    frame.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for row in rows {
        frame.extend_from_slice(&row.seq.to_le_bytes());
        frame.extend_from_slice(&row.at_us.to_le_bytes());
        for text in [
            &row.session_id,
            &row.kind,
            &row.payload,
            &row.prev_hash,
            &row.hash,
        ] {
            frame.extend_from_slice(&(text.len() as u32).to_le_bytes());
            frame.extend_from_slice(text.as_bytes());
        }
    }
    frame
}

/// Numbers an encoded frame and writes its header.
fn seal_frame(frame: &mut [u8], number: u64) {
    let body = &frame[HEADER..];
    let crc = checksum(number, body);
    let length = body.len() as u32;
    frame[..4].copy_from_slice(MAGIC);
    frame[4..12].copy_from_slice(&number.to_le_bytes());
    frame[12..16].copy_from_slice(&length.to_le_bytes());
    frame[16..20].copy_from_slice(&crc.to_le_bytes());
}

fn decode(body: &[u8]) -> Option<Vec<RecordRow>> {
    let mut rest = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut rows = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let seq = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let at_us = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let mut texts = Vec::with_capacity(TEXTS_PER_ROW);
        for _ in 0..TEXTS_PER_ROW {
            let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            texts.push(String::from_utf8(take(n)?.to_vec()).ok()?);
        }
        let [session_id, kind, payload, prev_hash, hash]: [String; TEXTS_PER_ROW] =
            texts.try_into().ok()?;
        rows.push(RecordRow {
            session_id,
            seq,
            kind,
            at_us,
            payload,
            prev_hash,
            hash,
        });
    }
    Some(rows)
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}
