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
//! file-system metadata. Where overwriting needs no new blocks either (ext2-4, XFS, tmpfs),
//! appends are copies into a shared mapping of the file: the page cache holds them at
//! once, as after a `write`, without a system call per frame (measured: the `pwrite` was
//! about 2 µs of each statement's recording).
//!
//! The file is used as two halves: frames follow each other from the
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
    sync::Arc,
};

use memmap2::{MmapOptions, MmapRaw};

use super::{
    chain::{self, Head, RecordRow, RowRef},
    record::Event,
    store::StoreError,
};

/// The file's size: each half holds several seconds of records at full speed.
pub const SIZE: u64 = 8 << 20;
const MAGIC: &[u8; 4] = b"CDJ1";
const HEADER: usize = 4 + 8 + 4 + 4;
/// Room a reused [`FrameBuf`] keeps between frames.
const KEPT_ROOM: usize = 256 << 10;

/// A frame read back: its number and records.
pub struct Frame {
    pub number: u64,
    pub rows: Vec<RecordRow>,
}

/// A frame being built, not yet numbered (see [`Journal::append`]): records are
/// encoded into it one by one, or sealed straight into it ([`FrameBuf::seal`]). Kept
/// and reused, it allocates nothing once it has grown to a frame's size.
pub struct FrameBuf {
    bytes: Vec<u8>,
    rows: u32,
}

impl Default for FrameBuf {
    fn default() -> Self {
        let mut frame = FrameBuf {
            bytes: Vec::new(),
            rows: 0,
        };
        frame.clear();
        frame
    }
}

impl FrameBuf {
    pub fn of(rows: &[RecordRow]) -> Self {
        let mut frame = FrameBuf::default();
        frame.bytes.reserve(encoded_len(rows));
        for row in rows {
            frame.push(&row.view());
        }
        frame
    }

    /// Empties it for the next frame (giving back the room of an unusually large one).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.bytes.shrink_to(KEPT_ROOM);
        self.bytes.extend_from_slice(&[0u8; HEADER + 4]);
        self.rows = 0;
    }

    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    pub fn push(&mut self, row: &RowRef) {
        self.bytes.extend_from_slice(&row.seq.to_le_bytes());
        self.bytes.extend_from_slice(&row.at_us.to_le_bytes());
        for text in [
            row.session_id,
            row.kind,
            row.payload,
            row.prev_hash,
            row.hash,
        ] {
            self.push_text(text.as_bytes());
        }
        self.count_row();
    }

    /// Seals `event` after `head` (None: its session's first record) into the frame,
    /// and moves `head` on to it: the payload is serialized in place and hashed there.
    pub fn seal(&mut self, event: &Event, head: &mut Option<Head>) {
        let (session_id, kind, at_us) = (event.session_id(), event.kind(), event.at_us());
        let seq = head.as_ref().map_or(1, |h| h.seq + 1);
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        self.bytes.extend_from_slice(&at_us.to_le_bytes());
        self.push_text(session_id.as_bytes());
        self.push_text(kind.as_bytes());
        let payload = self.push_json(event);
        let genesis;
        let prev_hash = match head {
            Some(prev) => prev.hash.as_str(),
            None => {
                genesis = chain::genesis(session_id);
                genesis.as_str()
            }
        };
        let hash = chain::record_hash_hex(
            prev_hash,
            session_id,
            seq,
            kind,
            at_us,
            &self.bytes[payload],
        );
        self.push_text(prev_hash.as_bytes());
        self.push_text(&hash);
        self.count_row();
        let hash = std::str::from_utf8(&hash).expect("hex digits");
        match head {
            // The head's own string is reused: sealing allocates nothing.
            Some(prev) => {
                prev.hash.clear();
                prev.hash.push_str(hash);
                prev.seq = seq;
            }
            None => {
                *head = Some(Head {
                    seq,
                    hash: hash.to_owned(),
                })
            }
        }
    }

    /// Its records, copied out (when the journal did not take them).
    pub fn to_rows(&self) -> Vec<RecordRow> {
        let rows = decode(&self.bytes[HEADER..]).expect("a frame this process encoded decodes");
        rows.iter().map(RowRef::to_row).collect()
    }

    /// The frame's body starts with its number of records.
    fn count_row(&mut self) {
        self.rows += 1;
        self.bytes[HEADER..HEADER + 4].copy_from_slice(&self.rows.to_le_bytes());
    }

    /// Writes `event`'s JSON as the next text; returns where it is.
    fn push_json(&mut self, event: &Event) -> std::ops::Range<usize> {
        let length_at = self.bytes.len();
        self.bytes.extend_from_slice(&[0u8; 4]);
        serde_json::to_writer(&mut self.bytes, event).expect("audit events always serialize");
        let json = length_at + 4..self.bytes.len();
        let length = json.len() as u32;
        self.bytes[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
        json
    }

    fn push_text(&mut self, text: &[u8]) {
        self.bytes
            .extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(text);
    }
}

/// Where a frame was written.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    pub number: u64,
    /// Its offset in the file, and its length (header included).
    pub at: u64,
    pub length: u64,
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
    /// The whole file, mapped shared: an append is a copy into the page cache, with no
    /// system call (the kernel holds it from then on, as after a `write`).
    map: Arc<Mapping>,
    /// Whether appends may write through the mapping: only where overwriting the file's
    /// blocks needs no new ones (see [`overwrites_in_place`]).
    mapped_writes: bool,
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

/// The journal file, mapped shared. Appends copy frames in (holding the [`Journal`]);
/// the store reads back frames it has not settled without holding it. The two never
/// touch the same bytes at once: an append writes where frames are only once the tables
/// hold those frames durably ([`Journal::append`]), after the store has read them.
pub struct Mapping(MmapRaw);

impl Mapping {
    fn write(&self, at: usize, bytes: &[u8]) {
        assert!(
            at + bytes.len() <= self.0.len(),
            "a frame past the journal's end"
        );
        // SAFETY: in bounds (above); nothing reads these bytes while they are written
        // (see the type's comment), and only the holder of the journal writes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_mut_ptr().add(at), bytes.len())
        }
    }

    /// The bytes of frames written at `at..at + length`.
    ///
    /// # Safety
    /// No append may write there while the slice lives: the frames there must be ones
    /// the tables do not hold durably yet (so their half is not written again).
    pub unsafe fn frames(&self, at: u64, length: u64) -> &[u8] {
        let (at, length) = (at as usize, length as usize);
        assert!(at + length <= self.0.len(), "frames past the journal's end");
        // SAFETY: in bounds (above); unchanged while borrowed (the caller's promise).
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(at), length) }
    }
}

/// Whether the file system of `file` overwrites a file's blocks in place (ext2-4, XFS,
/// tmpfs). A write through a mapping cannot report an error: where an overwrite needs
/// new blocks (copy-on-write file systems such as Btrfs or ZFS), a full disk would
/// kill the process with SIGBUS instead of refusing statements.
fn overwrites_in_place(file: &File) -> bool {
    const EXT: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const TMPFS: i64 = 0x0102_1994;
    let mut stats = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the struct it is given for a descriptor this process holds.
    if unsafe { libc::fstatfs(file.as_raw_fd(), stats.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstatfs succeeded, so it filled the struct.
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's type differs between targets"
    )]
    let kind = unsafe { stats.assume_init() }.f_type as i64;
    matches!(kind, EXT | XFS | TMPFS)
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
        // The file is written through to its full size (its blocks are allocated:
        // writing to the mapping needs no more room), and no other process resizes
        // or writes it while this one holds its lock.
        let map = MmapOptions::new()
            .len(size as usize)
            .map_raw(&file)
            .map_err(what)?;
        let map = Arc::new(Mapping(map));
        let mapped_writes = overwrites_in_place(&file);
        if !mapped_writes {
            tracing::info!(journal = %path.display(), "the journal's file system may need new blocks to overwrite it (copy-on-write): it is written with write(2), which can report a full disk, rather than through its mapping");
        }
        let journal = Journal {
            file,
            map,
            mapped_writes,
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
    /// where it went. It goes to the other half when it does not fit in this one, if
    /// the tables durably hold every frame there (numbers up to `settled`). On failure
    /// nothing counts as written.
    pub fn append(&mut self, frame: &mut FrameBuf, settled: u64) -> Result<Written, AppendError> {
        let half_size = self.size / 2;
        let length = frame.bytes.len() as u64;
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
        seal_frame(frame, number);
        match self.mapped_writes {
            true => self.map.write(self.at as usize, &frame.bytes),
            false => self.file.write_all_at(&frame.bytes, self.at).map_err(|e| {
                AppendError::Io(format!("writing the journal {}: {e}", self.path.display()))
            })?,
        }
        let written = Written {
            number,
            at: self.at,
            length,
        };
        self.at += length;
        self.newest_in[self.half] = number;
        self.next += 1;
        Ok(written)
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

    /// The mapping, to read frames back without holding the journal.
    pub fn mapping(&self) -> Arc<Mapping> {
        self.map.clone()
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
        let rows = rows.iter().map(RowRef::to_row).collect();
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

/// Numbers an encoded frame and writes its header.
fn seal_frame(frame: &mut FrameBuf, number: u64) {
    let frame = &mut frame.bytes;
    let body = &frame[HEADER..];
    let crc = checksum(number, body);
    let length = body.len() as u32;
    frame[..4].copy_from_slice(MAGIC);
    frame[4..12].copy_from_slice(&number.to_le_bytes());
    frame[12..16].copy_from_slice(&length.to_le_bytes());
    frame[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// The records of a frame's body, borrowed from it.
fn decode(body: &[u8]) -> Option<Vec<RowRef<'_>>> {
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
        let mut texts = [""; TEXTS_PER_ROW];
        for text in &mut texts {
            let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            *text = std::str::from_utf8(take(n)?).ok()?;
        }
        let [session_id, kind, payload, prev_hash, hash] = texts;
        rows.push(RowRef {
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

/// Adds to `rows` the records of the whole frames in `bytes` (as [`Journal::append`]
/// wrote them, one after another), borrowed from it; `None` if they do not read as
/// frames.
pub fn rows_of_frames<'a>(mut bytes: &'a [u8], rows: &mut Vec<RowRef<'a>>) -> Option<()> {
    while !bytes.is_empty() {
        let header = bytes.get(..HEADER)?;
        if &header[..4] != MAGIC {
            return None;
        }
        let length = u32::from_le_bytes(header[12..16].try_into().ok()?) as usize;
        let body = bytes.get(HEADER..HEADER + length)?;
        rows.extend(decode(body)?);
        bytes = &bytes[HEADER + length..];
    }
    Some(())
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_writes_only_where_overwrites_stay_in_place() {
        let shm = tempfile::NamedTempFile::new_in("/dev/shm").expect("a file on tmpfs");
        assert!(
            overwrites_in_place(shm.as_file()),
            "tmpfs overwrites in place"
        );
        let proc = File::open("/proc/self/status").expect("procfs");
        assert!(!overwrites_in_place(&proc), "procfs is not known to");
    }

    /// Frames written through the mapping and with write(2) read back alike: through
    /// the mapping (as the store settles them) and from the file (when it is reopened).
    #[test]
    fn frames_read_back_however_they_were_written() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("journal");
        let row = RowRef {
            session_id: "s",
            seq: 1,
            kind: "statement",
            at_us: 5,
            payload: "{}",
            prev_hash: "p",
            hash: "h",
        };
        for mapped in [true, false] {
            let (mut journal, _) = Journal::open(&path, 1 << 20).unwrap().expect("the lock");
            journal.start_over(1).unwrap();
            journal.mapped_writes = mapped;
            let mut frame = FrameBuf::default();
            frame.push(&row);
            let written = journal.append(&mut frame, 0).expect("appended");
            let mut rows = Vec::new();
            // SAFETY: nothing appends while the slice lives.
            let bytes = unsafe { journal.map.frames(written.at, written.length) };
            rows_of_frames(bytes, &mut rows).expect("whole frames");
            assert_eq!(
                rows,
                [row],
                "read through the mapping, mapped writes {mapped}"
            );
            drop(journal);
            let (_, frames) = Journal::open(&path, 1 << 20).unwrap().expect("the lock");
            let numbers: Vec<u64> = frames.iter().map(|f| f.number).collect();
            assert_eq!(numbers, [1], "mapped writes {mapped}");
            assert_eq!(frames[0].rows, [row.to_row()], "mapped writes {mapped}");
        }
    }
}
