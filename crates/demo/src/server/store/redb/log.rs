//! The write-ahead log in front of the redb file.
//!
//! A redb commit with `Durability::Immediate` rewrites every B-tree page
//! the batch touched plus redb's own bookkeeping pages and then flushes
//! them: measured under load here, about 0.5 ms of the writer thread's CPU
//! per commit, most of it the kernel submitting a dozen scattered page
//! writes. A group commit instead appends the batch's changed records to
//! this log, one contiguous write into a file whose blocks already exist,
//! and makes it durable with one `fdatasync` (no file-size or block
//! allocation change, so no file-system journal commit either). The redb
//! file is brought up to date by a **checkpoint** now and then: one
//! `Immediate` commit of every record changed since the last one (a job
//! enqueued, claimed and acked in between is written once, in its last
//! state), after which the log starts over.
//!
//! The log is two files ([`LOG_FILES`]) used in turn: a checkpoint
//! commits in the background while the writer goes on in the other file,
//! so the file being committed is not overwritten before its frames are in
//! redb.
//!
//! # Format
//!
//! Each file is [`CAPACITY`] bytes, zero-filled when created. Frames follow
//! each other from offset 0:
//!
//! ```text
//! magic u32 | crc32 u32 | generation u64 | payload length u32 | entries u32 | payload
//! entry: sequence u64 | kind u8 (0 delete, 1 put) | length u32 | record bytes
//! ```
//!
//! (little endian; the checksum covers everything after itself up to the
//! end of the payload). The **generation** binds a frame to one checkpoint:
//! each file is written in one generation at a time, from offset 0, and a
//! checkpoint commits the generation after the one it folds into redb's
//! `meta` table in the same transaction as the records. Reading a
//! generation from a file stops at the first frame that is not whole, not
//! of that generation or does not match its checksum: that is its end (a
//! frame torn by a crash was never answered; frames of an older generation
//! are already in the redb file).
//!
//! # Recovery
//!
//! Opening the store reads the redb file (at generation `g`), replays over
//! it, in order, the frames of `g` and then those of `g + 1` (written in
//! the other file while a checkpoint of `g` was committing), each from
//! whichever file holds it (each entry is a record's whole new state or
//! its deletion, so replaying is idempotent), and checkpoints the result
//! into generation `g + 2` before anything else is written, so no frame in
//! either file counts again: every start begins a fresh generation at
//! offset 0 of the first file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// The log's two files inside the data directory. The writer writes one
/// generation into one of them while a checkpoint commits the generation
/// before it, from the other one, into redb in the background; the next
/// checkpoint switches again (see the writer).
pub const LOG_FILES: [&str; 2] = ["jobs.log", "jobs.2.log"];
/// The log's size. A batch that does not fit in what is left of it makes
/// the writer checkpoint instead (so a batch larger than the whole log is
/// committed straight into redb).
pub(super) const CAPACITY: u64 = 1 << 20;
/// Marks the start of a frame.
const MAGIC: u32 = 0x314c_4b45; // "EKL1"
/// A frame's header: magic, checksum, generation, payload length, entries.
const HEADER: usize = 4 + 4 + 8 + 4 + 4;
/// An entry's header: sequence, kind, length.
const ENTRY: usize = 8 + 1 + 4;

/// A record's new state (`Some` bytes) or its deletion (`None`), by its
/// sequence number.
pub(super) type Change = (u64, Option<Vec<u8>>);

/// The open log: where its next frame goes, in which generation.
#[derive(Debug)]
pub(super) struct Log {
    file: File,
    capacity: u64,
    generation: u64,
    end: u64,
    frame: Vec<u8>,
}

impl Log {
    /// Opens the log file at `path` (creating and zero-filling it if
    /// needed) and returns it with its bytes, to read the changes of a
    /// generation from ([`changes`]). The log appends nothing until
    /// [`Log::restart`] gives it a generation.
    pub(super) fn open(path: &Path) -> io::Result<(Self, Vec<u8>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        if len < CAPACITY {
            // Written, not only allocated: an append into blocks the file
            // system has to convert from unwritten would make every
            // `fdatasync` commit the file system's journal too.
            let zeros = vec![0_u8; 64 * 1024];
            let mut at = len;
            while at < CAPACITY {
                let n = zeros
                    .len()
                    .min(usize::try_from(CAPACITY - at).unwrap_or(usize::MAX));
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        let capacity = len.max(CAPACITY);
        let mut bytes = vec![0_u8; usize::try_from(capacity).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut bytes, 0)?;
        Ok((
            Self {
                file,
                capacity,
                generation: 0,
                end: capacity, // full until restarted
                frame: Vec::new(),
            },
            bytes,
        ))
    }

    /// [`Log::open`] on the first log file in `dir`, and the changes of
    /// `generation` it holds, up to `limit` bytes.
    #[cfg(test)]
    pub(super) fn open_first(
        dir: &Path,
        generation: u64,
        limit: Option<u64>,
    ) -> io::Result<(Self, Vec<Change>)> {
        let (log, bytes) = Self::open(&dir.join(LOG_FILES[0]))?;
        Ok((log, changes(&bytes, generation, limit)?))
    }

    /// The generation the log is written in.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Where the next frame goes.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// Starts over at offset 0 in `generation` (after a checkpoint has
    /// committed it).
    pub(super) fn restart(&mut self, generation: u64) {
        self.generation = generation;
        self.end = 0;
    }

    /// Writes `changes` as one frame after the last. The frame is not
    /// durable until the file is flushed (the writer's flusher does that
    /// through [`Log::flusher`]). `Ok(None)`: the frame does not fit in
    /// what is left (nothing was written; checkpoint instead); otherwise
    /// where the frame ends.
    pub(super) fn write(&mut self, changes: &[Change]) -> io::Result<Option<u64>> {
        encode(&mut self.frame, self.generation, changes);
        let len = self.frame.len() as u64;
        if self.end + len > self.capacity {
            return Ok(None);
        }
        self.file.write_all_at(&self.frame, self.end)?;
        self.end += len;
        Ok(Some(self.end))
    }

    /// A second handle on the file, to flush it from another thread.
    pub(super) fn flusher(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// [`Log::write`] and a flush: `Ok(false)` when the frame does not fit.
    #[cfg(test)]
    pub(super) fn append(&mut self, changes: &[Change]) -> io::Result<bool> {
        if self.write(changes)?.is_none() {
            return Ok(false);
        }
        self.file.sync_data()?;
        Ok(true)
    }
}

/// The changes of `generation`'s frames in a log file's `bytes`, in
/// order, reading no further than `limit` bytes. A file whose first frame
/// is of another generation holds none.
///
/// # Errors
///
/// `InvalidData` for a frame whose checksum matches but whose entries do
/// not add up (see [`read`]).
pub(super) fn changes(
    bytes: &[u8],
    generation: u64,
    limit: Option<u64>,
) -> io::Result<Vec<Change>> {
    let readable = limit.map_or(bytes.len(), |l| {
        usize::try_from(l).unwrap_or(usize::MAX).min(bytes.len())
    });
    read(&bytes[..readable], generation)
}

/// Encodes `changes` as one frame of `generation` into `out`.
fn encode(out: &mut Vec<u8>, generation: u64, changes: &[Change]) {
    out.clear();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // checksum, below
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // payload length, below
    out.extend_from_slice(
        &u32::try_from(changes.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for (seq, change) in changes {
        out.extend_from_slice(&seq.to_le_bytes());
        if let Some(bytes) = change {
            out.push(1);
            out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(bytes);
        } else {
            out.push(0);
            out.extend_from_slice(&0_u32.to_le_bytes());
        }
    }
    let payload = u32::try_from(out.len() - HEADER).unwrap_or(u32::MAX);
    out[16..20].copy_from_slice(&payload.to_le_bytes());
    let crc = crc32fast::hash(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The changes of `generation`'s frames at the start of `bytes`, in
/// order, up to the first frame that is not whole and of that generation.
///
/// A frame whose checksum matches but whose entries do not add up cannot
/// come from a torn write: it is reported as corrupt.
fn read(bytes: &[u8], generation: u64) -> io::Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let head = &bytes[at..at + HEADER];
        if u32_at(head, 0) != MAGIC || u64_at(head, 8) != generation {
            break;
        }
        let payload = u32_at(head, 16) as usize;
        let Some(end) = (at + HEADER)
            .checked_add(payload)
            .filter(|&e| e <= bytes.len())
        else {
            break;
        };
        if crc32fast::hash(&bytes[at + 8..end]) != u32_at(head, 4) {
            break;
        }
        let entries = u32_at(head, 20);
        let mut p = at + HEADER;
        for _ in 0..entries {
            if p + ENTRY > end {
                return Err(corrupt(at));
            }
            let seq = u64_at(bytes, p);
            let kind = bytes[p + 8];
            let len = u32_at(bytes, p + 9) as usize;
            p += ENTRY;
            if p + len > end {
                return Err(corrupt(at));
            }
            match kind {
                0 => changes.push((seq, None)),
                1 => changes.push((seq, Some(bytes[p..p + len].to_vec()))),
                _ => return Err(corrupt(at)),
            }
            p += len;
        }
        if p != end {
            return Err(corrupt(at));
        }
        at = end;
    }
    Ok(changes)
}

fn corrupt(at: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("log: the frame at byte {at} has a valid checksum but malformed entries"),
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn changes(n: u64) -> Vec<Change> {
        (0..n)
            .map(|i| (i, (i % 3 != 0).then(|| format!("record {i}").into_bytes())))
            .collect()
    }

    /// A fresh directory for one test (the store's tests use it too),
    /// removed on drop.
    pub(in crate::server::store::redb) struct Dir(std::path::PathBuf);

    impl Dir {
        pub(in crate::server::store::redb) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub(in crate::server::store::redb) fn dir(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("evenkeel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    #[test]
    fn frames_come_back_in_order_and_only_from_their_generation() {
        let d = dir("log-order");
        let (mut log, found) = Log::open_first(d.path(), 7, None).unwrap();
        assert!(found.is_empty(), "a new log holds nothing");
        // Not restarted yet: appends nothing.
        assert!(!log.append(&changes(2)).unwrap());
        log.restart(7);
        assert!(log.append(&changes(3)).unwrap());
        assert!(log.append(&changes(5)[3..]).unwrap());
        drop(log);
        let (_, found) = Log::open_first(d.path(), 7, None).unwrap();
        assert_eq!(found, changes(5));
        // The next generation has nothing yet: the old frames are ignored.
        let (_, found) = Log::open_first(d.path(), 8, None).unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn a_new_generation_overwrites_from_the_start_and_stale_frames_stay_hidden() {
        let d = dir("log-restart");
        let (mut log, _) = Log::open_first(d.path(), 1, None).unwrap();
        log.restart(1);
        for i in 0..10 {
            assert!(log.append(&[(i, Some(vec![1; 100]))]).unwrap());
        }
        log.restart(2);
        assert!(log.append(&[(99, None)]).unwrap());
        drop(log);
        let (_, found) = Log::open_first(d.path(), 2, None).unwrap();
        assert_eq!(found, [(99, None)]);
    }

    #[test]
    fn a_torn_last_frame_ends_the_log_at_every_cut() {
        let d = dir("log-torn");
        let (mut log, _) = Log::open_first(d.path(), 3, None).unwrap();
        log.restart(3);
        assert!(log.append(&changes(4)).unwrap());
        let first = log.end();
        assert!(log.append(&changes(9)[4..]).unwrap());
        let second = log.end();
        drop(log);
        let path = d.path().join(LOG_FILES[0]);
        let whole = std::fs::read(&path).unwrap();
        // Cut the second frame short at every byte (as a crash during its
        // write would): only the first frame is found; never an error.
        for cut in first..second {
            let mut torn = whole.clone();
            for b in &mut torn[usize::try_from(cut).unwrap()..usize::try_from(second).unwrap()] {
                *b = 0;
            }
            std::fs::write(&path, &torn).unwrap();
            let (_, found) = Log::open_first(d.path(), 3, None).unwrap();
            assert_eq!(found, changes(4), "cut at byte {cut}");
        }
        // A flipped bit anywhere in the second frame hides it too.
        for at in first..second {
            let mut bad = whole.clone();
            bad[usize::try_from(at).unwrap()] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let (_, found) = Log::open_first(d.path(), 3, None).unwrap();
            assert_eq!(found, changes(4), "bit flipped at byte {at}");
        }
    }

    #[test]
    fn the_limit_hides_frames_after_a_failed_append() {
        let d = dir("log-limit");
        let (mut log, _) = Log::open_first(d.path(), 5, None).unwrap();
        log.restart(5);
        assert!(log.append(&changes(2)).unwrap());
        let good = log.end();
        assert!(log.append(&changes(6)[2..]).unwrap());
        drop(log);
        let (_, found) = Log::open_first(d.path(), 5, Some(good)).unwrap();
        assert_eq!(found, changes(2));
    }

    #[test]
    fn a_frame_that_does_not_fit_is_not_written() {
        let d = dir("log-full");
        let (mut log, _) = Log::open_first(d.path(), 1, None).unwrap();
        log.restart(1);
        let big = vec![7_u8; usize::try_from(CAPACITY / 2).unwrap()];
        assert!(log.append(&[(1, Some(big.clone()))]).unwrap());
        let end = log.end();
        assert!(!log.append(&[(2, Some(big))]).unwrap());
        assert_eq!(log.end(), end);
        drop(log);
        let (_, found) = Log::open_first(d.path(), 1, None).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_checksummed_frame_with_bad_entries_is_corruption() {
        let mut frame = Vec::new();
        encode(&mut frame, 1, &[(1, Some(b"abc".to_vec()))]);
        // Claim two entries where there is one; fix up the checksum.
        frame[20..24].copy_from_slice(&2_u32.to_le_bytes());
        let crc = crc32fast::hash(&frame[8..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        let err = read(&frame, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
