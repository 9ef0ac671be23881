//! `Data`: a byte stream chunk kept as a rope of shared `Bytes`, so bytes read from a
//! socket travel to the socket they are written to without being copied.

use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;
use std::fmt;

/// A sequence of bytes held as a list of shared chunks.
#[derive(Clone, Default)]
pub struct Data {
    // One chunk inline: most Data is one read or one encoded piece, and a smaller
    // Data makes every queued event smaller.
    chunks: SmallVec<[Bytes; 1]>,
    len: usize,
}

/// Two `Data` are equal when their bytes are, however they are cut into chunks.
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self.chunks.iter().flat_map(|c| c.iter()).eq(other.chunks.iter().flat_map(|c| c.iter()))
    }
}

impl Eq for Data {}

impl Data {
    /// An empty `Data`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a chunk without copying it.
    pub fn push_bytes(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.chunks.push(b);
        }
    }

    /// Appends all chunks of another `Data`.
    pub fn push(&mut self, other: Data) {
        self.len += other.len;
        self.chunks.extend(other.chunks);
    }

    /// Keeps the list of chunks short for Data built up piece by piece (a script
    /// pushing small strings, or pushing a Data onto itself): past a few chunks,
    /// the last two are copied into one while the last is at least half the
    /// size of the one before, so sizes fall by half or more along the list.
    /// That keeps it to a few dozen chunks, and copies each byte about once per
    /// doubling of the whole (n log n in all, not n²).
    pub fn compact(&mut self) {
        const FEW: usize = 8;
        while self.chunks.len() > FEW {
            let n = self.chunks.len();
            if self.chunks[n - 1].len() * 2 < self.chunks[n - 2].len() && n <= 64 {
                break;
            }
            let mut b = BytesMut::with_capacity(self.chunks[n - 2].len() + self.chunks[n - 1].len());
            b.extend_from_slice(&self.chunks[n - 2]);
            b.extend_from_slice(&self.chunks[n - 1]);
            self.chunks.truncate(n - 2);
            self.chunks.push(b.freeze());
        }
    }

    /// Removes and returns the first `n` bytes (fewer if there are not that many).
    pub fn shift(&mut self, n: usize) -> Data {
        let mut out = Data::new();
        let mut n = n.min(self.len);
        // Whole chunks go in one drain: removing them one by one from the front
        // would cost the square of their number.
        let mut sum = 0;
        let whole = self
            .chunks
            .iter()
            .take_while(|c| {
                sum += c.len();
                sum <= n
            })
            .count();
        let mut taken = 0;
        for b in self.chunks.drain(..whole) {
            taken += b.len();
            out.push_bytes(b);
        }
        self.len -= taken;
        n -= taken;
        if n > 0 {
            let b = self.chunks[0].split_to(n);
            self.len -= n;
            out.push_bytes(b);
        }
        out
    }

    /// Removes and returns the last `n` bytes (fewer if there are not that many).
    pub fn pop(&mut self, n: usize) -> Data {
        let keep = self.len - n.min(self.len);
        let head = self.shift(keep);
        std::mem::replace(self, head)
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.chunks.iter()
    }

    /// Takes the chunks out, in order.
    pub fn into_chunks(self) -> impl Iterator<Item = Bytes> {
        self.chunks.into_iter()
    }

    /// All bytes as one contiguous `Bytes` (free when there is one chunk).
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks[0].clone(),
            _ => {
                let mut b = BytesMut::with_capacity(self.len);
                for c in &self.chunks {
                    b.extend_from_slice(c);
                }
                b.freeze()
            }
        }
    }

    /// All bytes copied into a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.to_bytes().to_vec()
    }

    /// Byte at position `i`, if any.
    pub fn byte_at(&self, mut i: usize) -> Option<u8> {
        for c in &self.chunks {
            if i < c.len() {
                return Some(c[i]);
            }
            i -= c.len();
        }
        None
    }

    /// Position of the first occurrence of `needle` (a short pattern), if any.
    pub fn find(&self, needle: &[u8]) -> Option<usize> {
        if needle.is_empty() || needle.len() > self.len {
            return None;
        }
        if self.chunks.len() == 1 {
            let c = &self.chunks[0];
            return c.windows(needle.len()).position(|w| w == needle);
        }
        let mut cursor = self.reader();
        let mut window: Vec<u8> = Vec::with_capacity(needle.len());
        let mut pos = 0;
        while cursor.has_remaining() {
            let b = cursor.get_u8();
            if window.len() == needle.len() {
                window.remove(0);
            }
            window.push(b);
            pos += 1;
            if window == needle {
                return Some(pos - needle.len());
            }
        }
        None
    }

    /// A `Buf` over the bytes, leaving `self` untouched.
    pub fn reader(&self) -> DataReader<'_> {
        DataReader { chunks: &self.chunks, index: 0, offset: 0, remaining: self.len }
    }
}

impl From<Bytes> for Data {
    fn from(b: Bytes) -> Self {
        let mut d = Data::new();
        d.push_bytes(b);
        d
    }
}

impl From<&'static str> for Data {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Data({:?})", String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// A read cursor over a `Data`.
pub struct DataReader<'a> {
    chunks: &'a [Bytes],
    index: usize,
    offset: usize,
    remaining: usize,
}

impl Buf for DataReader<'_> {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.get(self.index) {
            Some(c) => &c[self.offset..],
            None => &[],
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of Data");
        self.remaining -= cnt;
        while cnt > 0 {
            let left = self.chunks[self.index].len() - self.offset;
            if cnt < left {
                self.offset += cnt;
                return;
            }
            cnt -= left;
            self.index += 1;
            self.offset = 0;
        }
        while self.index < self.chunks.len() && self.offset == self.chunks[self.index].len() {
            self.index += 1;
            self.offset = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope(parts: &[&'static str]) -> Data {
        let mut d = Data::new();
        for p in parts {
            d.push_bytes(Bytes::from_static(p.as_bytes()));
        }
        d
    }

    #[test]
    fn equal_bytes_are_equal_data_however_they_are_chunked() {
        assert_eq!(rope(&["ab", "cd"]), rope(&["a", "bcd"]));
        assert_eq!(rope(&["abcd"]), rope(&["abc", "", "d"]));
        assert_ne!(rope(&["ab", "cd"]), rope(&["ab", "ce"]));
        assert_ne!(rope(&["ab"]), rope(&["ab", "c"]));
        assert_eq!(Data::new(), rope(&[""]));
    }

    #[test]
    fn shift_splits_across_chunks() {
        let mut d = rope(&["abc", "def", "g"]);
        assert_eq!(d.shift(4).to_vec(), b"abcd");
        assert_eq!(d.to_vec(), b"efg");
        assert_eq!(d.len(), 3);
        assert_eq!(d.shift(10).to_vec(), b"efg");
        assert!(d.is_empty());
    }

    #[test]
    fn compact_keeps_the_chunk_list_short_and_the_bytes_the_same() {
        let mut d = Data::new();
        let mut want = Vec::new();
        for i in 0..1000u32 {
            let piece = format!("{i},");
            want.extend_from_slice(piece.as_bytes());
            d.push(Data::from(piece));
            d.compact();
            assert!(d.chunks().count() <= 64);
        }
        assert_eq!(d.to_vec(), want);
        for _ in 0..10 {
            let copy = d.clone();
            want.extend_from_within(..);
            d.push(copy);
            d.compact();
            assert!(d.chunks().count() <= 64);
        }
        assert_eq!(d.len(), want.len());
        assert!(d.to_vec() == want);
    }

    #[test]
    fn pop_takes_from_the_end() {
        let mut d = rope(&["ab", "cd"]);
        assert_eq!(d.pop(3).to_vec(), b"bcd");
        assert_eq!(d.to_vec(), b"a");
    }

    #[test]
    fn find_sees_patterns_across_chunk_borders() {
        let d = rope(&["GET / HTTP/1.1\r", "\n\r", "\nbody"]);
        assert_eq!(d.find(b"\r\n\r\n"), Some(14));
        assert_eq!(rope(&["abc"]).find(b"x"), None);
    }

    #[test]
    fn reader_walks_every_byte() {
        let d = rope(&["ab", "", "cde"]);
        let mut r = d.reader();
        let mut out = Vec::new();
        while r.has_remaining() {
            out.push(r.get_u8());
        }
        assert_eq!(out, b"abcde");
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<super::Data>() <= 48, "{}", std::mem::size_of::<super::Data>());
        assert!(std::mem::size_of::<crate::Event>() <= 56, "{}", std::mem::size_of::<crate::Event>());
    }
}
