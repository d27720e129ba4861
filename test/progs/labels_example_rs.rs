// labels_example_rs - profiler labels from Rust (docs/profiles.md, "Labels").
//
// Rust has no stable weak symbols, so the `cprof` module below looks the
// API up at run time with dlsym(RTLD_DEFAULT, ...), once per function,
// and does nothing when libcprof.so is not loaded.  No crate, no build
// script: copy the module.  Two threads run the same code under
// job=resize and job=encode (twice the work), so
// `go tool pprof -tagfocus=job=encode` shows the encode job alone.
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

mod cprof {
    use std::ffi::CString;
    use std::os::raw::{c_char, c_int, c_uint, c_void};
    use std::sync::atomic::{AtomicUsize, Ordering};

    extern "C" {
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }

    const UNRESOLVED: usize = 1;
    static INTERN: AtomicUsize = AtomicUsize::new(UNRESOLVED);
    static SET: AtomicUsize = AtomicUsize::new(UNRESOLVED);

    /// The address of `name` (a NUL-terminated name) in the process, 0 when absent.
    fn sym(cache: &AtomicUsize, name: &[u8]) -> usize {
        let mut f = cache.load(Ordering::Relaxed);
        if f == UNRESOLVED {
            // RTLD_DEFAULT is the null handle.
            f = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr() as *const c_char) } as usize;
            cache.store(f, Ordering::Relaxed);
        }
        f
    }

    /// A label set interned by cprof; 0 is the empty set.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct Labels(pub c_uint);

    /// Intern a set of key=value pairs once; keep the handle.
    pub fn intern(pairs: &[(&str, &str)]) -> Labels {
        let f = sym(&INTERN, b"cprof_labels_intern\0");
        if f == 0 {
            return Labels(0);
        }
        let strings: Vec<CString> = pairs
            .iter()
            .flat_map(|(k, v)| [CString::new(*k).unwrap(), CString::new(*v).unwrap()])
            .collect();
        let ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        let intern: unsafe extern "C" fn(*const *const c_char, c_int) -> c_uint =
            unsafe { std::mem::transmute(f) };
        Labels(unsafe { intern(ptrs.as_ptr(), pairs.len() as c_int) })
    }

    /// Make `l` current on this thread; returns the previous set.
    pub fn set(l: Labels) -> Labels {
        let f = sym(&SET, b"cprof_labels_set\0");
        if f == 0 {
            return Labels(0);
        }
        let set: unsafe extern "C" fn(c_uint) -> c_uint = unsafe { std::mem::transmute(f) };
        Labels(unsafe { set(l.0) })
    }

    /// `l` is current until the guard is dropped (panics included).
    pub struct Scope(Labels);

    pub fn scope(l: Labels) -> Scope {
        Scope(set(l))
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            set(self.0);
        }
    }
}

static SINK: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn checksum(rounds: u64) -> u64 {
    let mut h = 0u64;
    for i in 0..rounds {
        let buf: Vec<u8> = vec![(i & 0xff) as u8; 4096];
        for b in &buf {
            h = h.wrapping_mul(31).wrapping_add(*b as u64);
        }
    }
    SINK.fetch_add(h, Ordering::Relaxed);
    h
}

fn main() {
    let resize = cprof::intern(&[("job", "resize"), ("lang", "rust")]);
    let encode = cprof::intern(&[("job", "encode"), ("lang", "rust")]);
    let workers: Vec<_> = [(resize, 20_000u64), (encode, 40_000u64)]
        .into_iter()
        .map(|(labels, rounds)| {
            thread::spawn(move || {
                let _scope = cprof::scope(labels);
                checksum(rounds)
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    println!("labels {}", if resize.0 != 0 { "on" } else { "off (libcprof.so not loaded)" });
}
