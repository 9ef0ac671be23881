//! A guard against floods of cheap frames. `h2` answers every PING, SETTINGS
//! and RST_STREAM a peer sends, and bounds rapid resets of streams it has not
//! handed over yet, but a peer may still make a connection work hard for
//! nothing: resets of streams whose requests already went upstream (the rapid
//! reset attack, CVE-2023-44487, against a proxy), or endless PINGs and
//! SETTINGS. The guard reads only frame headers from the byte stream, as it
//! arrives, and keeps a budget per kind of frame, refilled with time; a peer
//! past one gets GOAWAY with `ENHANCE_YOUR_CALM`.

use std::time::Instant;

/// Frames of one kind a peer may send in a burst.
pub const BURST: f64 = 200.0;
/// Frames of one kind per second a peer may send for as long as it likes.
pub const RATE: f64 = 100.0;

/// The kinds of frames with a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// RST_STREAM frames.
    Resets,
    /// PING frames (not acknowledgements).
    Pings,
    /// SETTINGS frames (not acknowledgements).
    Settings,
    /// PRIORITY frames, which this server ignores.
    Priorities,
    /// DATA frames without payload nor END_STREAM, and WINDOW_UPDATEs.
    Empty,
}

const KINDS: usize = 5;

/// The frame-header reader and its budgets.
pub struct Guard {
    /// Preface bytes still to pass before frames begin.
    preface: usize,
    header: [u8; 9],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload: usize,
    tokens: [f64; KINDS],
    refilled: Option<Instant>,
}

impl Guard {
    /// A guard for a byte stream whose frames begin after `preface` bytes.
    pub fn new(preface: usize) -> Self {
        Guard { preface, header: [0; 9], have: 0, payload: 0, tokens: [BURST; KINDS], refilled: None }
    }

    /// Reads `bytes`, the next part of the stream, at time `now`; the first
    /// budget spent, if one is.
    pub fn scan(&mut self, mut bytes: &[u8], now: Instant) -> Result<(), Flood> {
        self.refill(now);
        let skip = self.preface.min(bytes.len());
        self.preface -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < 9 {
                break;
            }
            self.have = 0;
            let h = self.header;
            let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
            self.payload = len;
            if let Some(kind) = costly(h[3], h[4], len) {
                let t = &mut self.tokens[kind as usize];
                *t -= 1.0;
                if *t < 0.0 {
                    return Err(kind);
                }
            }
        }
        Ok(())
    }

    fn refill(&mut self, now: Instant) {
        if let Some(then) = self.refilled {
            let gained = now.saturating_duration_since(then).as_secs_f64() * RATE;
            for t in &mut self.tokens {
                *t = (*t + gained).min(BURST);
            }
        }
        self.refilled = Some(now);
    }
}

/// The budget a frame of `kind` with `flags` and a payload of `len` spends, if any.
fn costly(kind: u8, flags: u8, len: usize) -> Option<Flood> {
    const ACK: u8 = 0x1;
    const END_STREAM: u8 = 0x1;
    match kind {
        0x0 if len == 0 && flags & END_STREAM == 0 => Some(Flood::Empty),
        0x2 => Some(Flood::Priorities),
        0x3 => Some(Flood::Resets),
        0x4 if flags & ACK == 0 => Some(Flood::Settings),
        0x6 if flags & ACK == 0 => Some(Flood::Pings),
        0x8 => Some(Flood::Empty),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use std::time::Duration;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags, 0, 0, 0, 1];
        f.extend_from_slice(payload);
        f
    }

    /// A stream of `n` PINGs with DATA frames between them, after the preface.
    fn pings_among_data(n: usize) -> Vec<u8> {
        let mut s = super::super::PREFACE.to_vec();
        for _ in 0..n {
            s.extend(frame(0x0, 0, &[0x6; 40])); // a DATA frame whose payload looks like PING headers
            s.extend(frame(0x6, 0, &[0; 8]));
        }
        s
    }

    #[test]
    fn a_burst_of_pings_past_the_budget_is_a_flood_and_acks_cost_nothing() {
        let now = Instant::now();
        let mut g = Guard::new(24);
        assert_eq!(g.scan(&pings_among_data(BURST as usize), now), Ok(()));
        assert_eq!(g.scan(&frame(0x6, 0x1, &[0; 8]), now), Ok(()), "an ack is free");
        assert_eq!(g.scan(&frame(0x6, 0, &[0; 8]), now), Err(Flood::Pings));
    }

    #[test]
    fn the_budget_refills_with_time() {
        let t0 = Instant::now();
        let mut g = Guard::new(0);
        let resets: Vec<u8> = (0..BURST as usize).flat_map(|_| frame(0x3, 0, &[0; 4])).collect();
        assert_eq!(g.scan(&resets, t0), Ok(()));
        assert_eq!(g.scan(&resets[..13], t0 + Duration::from_secs(1)), Ok(()), "a second later there is room");
        let many: Vec<u8> = (0..RATE as usize + 1).flat_map(|_| frame(0x3, 0, &[0; 4])).collect();
        assert_eq!(g.scan(&many, t0 + Duration::from_secs(1)), Err(Flood::Resets));
    }

    #[test]
    fn split_at_every_byte_counts_the_same() {
        let stream = pings_among_data(BURST as usize + 1);
        let now = Instant::now();
        let whole = Guard::new(24).scan(&stream, now);
        assert_eq!(whole, Err(Flood::Pings));
        for at in 0..stream.len() {
            let mut g = Guard::new(24);
            let first = g.scan(&stream[..at], now);
            let result = first.and_then(|_| g.scan(&stream[at..], now));
            assert_eq!(result, whole, "split at {at}");
        }
    }

    #[test]
    fn random_pieces_and_random_bytes_never_panic_and_agree_with_whole_reads() {
        let mut rng = Rng::new(0x9E3779B97F4A7C15);
        for _ in 0..500 {
            let len = rng.below(400);
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let now = Instant::now();
            let preface = rng.below(30);
            let whole = Guard::new(preface).scan(&bytes, now).is_ok();
            let mut g = Guard::new(preface);
            let mut ok = true;
            for piece in rng.pieces(&bytes) {
                ok &= g.scan(piece, now).is_ok();
            }
            assert_eq!(ok, whole, "for {bytes:?}");
        }
    }
}
