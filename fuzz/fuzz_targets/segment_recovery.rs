//! The disk queue's segment reader, given any file left by an earlier run, never panics and
//! never asks for more memory at once than a record may hold (`MAX_RECORD_BODY`), nor more
//! than the bytes it was given call for. Each input is read twice: as the file itself, and
//! framed as one record with a true checksum, so that the fuzzer reaches the body decoder
//! (a random checksum would almost never match).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tributary::exporters::queue::segment::{read_at, scan, Next, MAX_RECORD_BODY};

/// The largest single allocation since the last reset.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

fn segment_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("tributary-fuzz-segment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir.join("00000000000000000000.seg")
    })
}

fuzz_target!(|data: &[u8]| {
    read_back(data);
    let mut framed = Vec::with_capacity(8 + data.len());
    framed.extend_from_slice(&(data.len() as u32).to_le_bytes());
    framed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    framed.extend_from_slice(data);
    read_back(&framed);
});

fn read_back(file_bytes: &[u8]) {
    let path = segment_file();
    std::fs::write(path, file_bytes).expect("the segment file is written");
    LARGEST.store(0, Ordering::Relaxed);
    let scanned = scan(path).expect("a file that exists scans");
    assert!(scanned.valid_len <= file_bytes.len() as u64);
    assert_eq!(
        scanned.torn,
        scanned.valid_len < file_bytes.len() as u64,
        "torn exactly when bytes are left after the good records"
    );
    let mut file = std::fs::File::open(path).expect("the segment file opens");
    let mut offset = 0;
    for &(seq, items, end) in &scanned.records {
        match read_at(&mut file, offset, file_bytes.len() as u64).expect("reads") {
            Next::Record {
                stored,
                end: read_end,
            } => {
                assert_eq!((stored.seq, stored.items, read_end), (seq, items, end));
            }
            _ => panic!("a record the scan found at {offset} does not read again"),
        }
        offset = end;
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= MAX_RECORD_BODY as usize,
        "an allocation of {largest} bytes, over the record limit of {MAX_RECORD_BODY}"
    );
    // Decoded prost messages are larger than their encoding (an empty span is 2 bytes on the
    // wire and a few hundred in memory), hence the factor; a length taken on trust is not.
    let bound = (1 << 20) + 1024 * file_bytes.len();
    assert!(
        largest <= bound,
        "an allocation of {largest} bytes for a file of {} bytes",
        file_bytes.len()
    );
}
