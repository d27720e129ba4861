// rust_locks - contention on Rust's std::sync::Mutex, RwLock and Condvar,
// with waits the program measures itself.
//
// Since Rust 1.62 these locks are built on futexes and call
// syscall(SYS_futex, ...) through libc, never pthreads.
//
//  - Mutex: `mutex_holder` holds M for about 2 ms and releases it in
//    mutex_unlock; two threads take M in mutex_wait and time the lock call.
//  - RwLock: `rw_writer` holds a write lock for about 2 ms and releases it
//    in rw_write_unlock; two threads take read locks in rw_read, timed.
//  - Condvar: a producer sets a flag and signals in cond_notify every
//    millisecond; a consumer waits for it in cond_wait, timed from before it
//    takes the mutex until the flag is seen.
//
// Prints JSON: {"mutex_wait": ns, "rw_read": ns, "cond_wait": ns,
// "mutex_calls": n, "rw_calls": n, "cond_calls": n}.
//
// usage: rust_locks [seconds]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static SINK: AtomicU64 = AtomicU64::new(0);
static WAITED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static CALLS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn spin_for(d: Duration) {
    let end = Instant::now() + d;
    let mut x = 1.0f64;
    while Instant::now() < end {
        x = x * 1.0000001 + 1.0;
    }
    SINK.fetch_add(x as u64 & 1, Ordering::Relaxed);
}

fn note(kind: usize, since: Instant) {
    WAITED[kind].fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    CALLS[kind].fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn mutex_unlock(g: MutexGuard<'_, u64>) {
    drop(g);
    SINK.fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn mutex_wait(m: &Mutex<u64>) {
    let t0 = Instant::now();
    let mut g = m.lock().unwrap();
    note(0, t0);
    *g += 1;
    spin_for(Duration::from_micros(20));
    drop(g);
    SINK.fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn rw_write_unlock(g: RwLockWriteGuard<'_, u64>) {
    drop(g);
    SINK.fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn rw_read(l: &RwLock<u64>) {
    let t0 = Instant::now();
    let g = l.read().unwrap();
    note(1, t0);
    SINK.fetch_add(*g & 1, Ordering::Relaxed);
    spin_for(Duration::from_micros(20));
    drop(g);
    SINK.fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn cond_notify(pair: &(Mutex<bool>, Condvar)) {
    *pair.0.lock().unwrap() = true;
    pair.1.notify_one();
    SINK.fetch_add(1, Ordering::Relaxed);
}

#[no_mangle]
#[inline(never)]
pub fn cond_wait(pair: &(Mutex<bool>, Condvar)) {
    let t0 = Instant::now();
    let mut g = pair.0.lock().unwrap();
    while !*g && !STOP.load(Ordering::Relaxed) {
        g = pair.1.wait_timeout(g, Duration::from_millis(50)).unwrap().0;
    }
    *g = false;
    note(2, t0);
    drop(g);
    SINK.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let m = Arc::new(Mutex::new(0u64));
    let rw = Arc::new(RwLock::new(0u64));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let mut threads = Vec::new();

    let mm = m.clone();
    threads.push(thread::Builder::new().name("mutex_holder".into()).spawn(move || {
        while !STOP.load(Ordering::Relaxed) {
            let mut g = mm.lock().unwrap();
            *g += 1;
            spin_for(Duration::from_millis(2));
            mutex_unlock(g);
            thread::sleep(Duration::from_micros(300));
        }
    }).unwrap());
    for pause in [500u64, 1500] {
        let mm = m.clone();
        threads.push(thread::spawn(move || {
            while !STOP.load(Ordering::Relaxed) {
                mutex_wait(&mm);
                thread::sleep(Duration::from_micros(pause));
            }
        }));
    }

    let ww = rw.clone();
    threads.push(thread::Builder::new().name("rw_writer".into()).spawn(move || {
        while !STOP.load(Ordering::Relaxed) {
            let mut g = ww.write().unwrap();
            *g += 1;
            spin_for(Duration::from_millis(2));
            rw_write_unlock(g);
            thread::sleep(Duration::from_micros(300));
        }
    }).unwrap());
    for pause in [500u64, 1500] {
        let rr = rw.clone();
        threads.push(thread::spawn(move || {
            while !STOP.load(Ordering::Relaxed) {
                rw_read(&rr);
                thread::sleep(Duration::from_micros(pause));
            }
        }));
    }

    let pp = pair.clone();
    threads.push(thread::spawn(move || {
        while !STOP.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(1));
            cond_notify(&pp);
        }
    }));
    let pc = pair.clone();
    threads.push(thread::spawn(move || {
        while !STOP.load(Ordering::Relaxed) {
            cond_wait(&pc);
        }
    }));

    thread::sleep(Duration::from_secs_f64(seconds));
    STOP.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "{{\"mutex_wait\": {}, \"rw_read\": {}, \"cond_wait\": {}, \"mutex_calls\": {}, \"rw_calls\": {}, \"cond_calls\": {}}}",
        WAITED[0].load(Ordering::Relaxed),
        WAITED[1].load(Ordering::Relaxed),
        WAITED[2].load(Ordering::Relaxed),
        CALLS[0].load(Ordering::Relaxed),
        CALLS[1].load(Ordering::Relaxed),
        CALLS[2].load(Ordering::Relaxed)
    );
}
