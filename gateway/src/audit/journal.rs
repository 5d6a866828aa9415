//! The SQLite store's durable journal: sealed records reach it (one write and one
//! `fdatasync` per batch) before any client sees their statement's result, and reach the
//! database tables later, many batches to a transaction (see [`super::sqlite`]).
//!
//! Why: a SQLite commit of a group-committed batch rewrites whole pages (the tails of the
//! records table and its session index, each session's listing row) and syncs them all;
//! on a small VM that CPU per commit held recording to well under half the throughput of
//! not recording. The journal writes only the records' own bytes, and the tables are
//! brought up to date a few times a second, where each page holds many batches.
//!
//! The file has a fixed size and is written through once when created, so an append only
//! overwrites blocks the file already has: `fdatasync` then flushes data alone, with no
//! file-system metadata. Frames follow each other from the start; once every frame has
//! reached the tables (and those are synced), writing starts over at the start. A frame
//! is `magic, number, body length, CRC-32` followed by its body; numbers only grow, so
//! reading from the start stops at the first frame that is torn, stale (not the next
//! number) or zeros. The store remembers the last frame it took, in the same
//! transaction as the records, so a frame is taken exactly once.
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

/// The file's size: room for several seconds of records at full speed.
pub const SIZE: u64 = 8 << 20;
const MAGIC: &[u8; 4] = b"CDJ1";
const HEADER: usize = 4 + 8 + 4 + 4;

/// A frame read back: its number and records.
pub struct Frame {
    pub number: u64,
    pub rows: Vec<RecordRow>,
}

pub struct Journal {
    file: File,
    path: PathBuf,
    size: u64,
    /// Where the next frame goes.
    at: u64,
    /// The next frame's number.
    next: u64,
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
    /// holds, oldest first (those the store already took among them).
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
        let next = frames.last().map_or(1, |f| f.number + 1);
        let journal = Journal {
            file,
            path: path.to_path_buf(),
            size,
            at: 0,
            next,
        };
        Ok(Some((journal, frames)))
    }

    /// Frame numbers start past `number` (the store took frames up to it).
    pub fn number_after(&mut self, number: u64) {
        self.next = self.next.max(number + 1);
    }

    /// Whether a frame of `rows` fits after the frames written since the start.
    pub fn fits(&self, rows: &[RecordRow]) -> bool {
        self.at + encoded_len(rows) as u64 <= self.size
    }

    /// Bytes written since the last [`Journal::restart`].
    pub fn used(&self) -> u64 {
        self.at
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `rows` as one frame, durable when this returns; its number. On failure
    /// nothing counts as written: the next append goes to the same place.
    pub fn append(&mut self, rows: &[RecordRow]) -> Result<u64, StoreError> {
        if !self.fits(rows) {
            return Err(StoreError::Unavailable(format!(
                "the journal {} is full: the store has not taken its records yet",
                self.path.display()
            )));
        }
        let frame = encode(self.next, rows);
        let what = |e| io_error(&format!("writing the journal {}", self.path.display()), e);
        self.file.write_all_at(&frame, self.at).map_err(what)?;
        self.file.sync_data().map_err(what)?;
        self.at += frame.len() as u64;
        self.next += 1;
        Ok(self.next - 1)
    }

    /// Writing starts over at the start: every frame written so far is in the store,
    /// durably.
    pub fn restart(&mut self) {
        self.at = 0;
    }
}

/// The number of the newest frame in the journal at `path`, read without taking its
/// lock (a daemon may be appending); `None` when it holds none.
pub fn newest_frame(path: &Path) -> std::io::Result<Option<u64>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    Ok(read_frames(&file, size)?.last().map(|f| f.number))
}

/// Zeros from `from` to `size`, synced: later appends overwrite allocated blocks.
fn write_through(file: &File, from: u64, size: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < size {
        let n = (size - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

fn read_frames(file: &File, size: u64) -> std::io::Result<Vec<Frame>> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut at = 0u64;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= size {
        file.read_exact_at(&mut header, at)?;
        if &header[..4] != MAGIC {
            break;
        }
        let number = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
        let length = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes")) as u64;
        let crc = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes"));
        let follows = frames.last().is_none_or(|last| number == last.number + 1);
        if !follows || at + HEADER as u64 + length > size {
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

fn encode(number: u64, rows: &[RecordRow]) -> Vec<u8> {
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
    let body = &frame[HEADER..];
    let crc = checksum(number, body);
    let length = body.len() as u32;
    frame[..4].copy_from_slice(MAGIC);
    frame[4..12].copy_from_slice(&number.to_le_bytes());
    frame[12..16].copy_from_slice(&length.to_le_bytes());
    frame[16..20].copy_from_slice(&crc.to_le_bytes());
    frame
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
