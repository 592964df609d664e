//! Writes an event straight from its types, without building a `serde_json::Value` tree: its
//! canonical encoding (see [`chain`](crate::chain)) and its compact wire JSON text.
//!
//! Building the `Value` of an event, walking it and dropping it was most of the cost of
//! recording one. This module is a [`serde::Serializer`] that writes the same bytes as the
//! `Value` path would, for either output [`Format`]:
//!
//! - Objects (maps, structs, enum variants) come out with their entries **sorted by the key's
//!   bytes**, and a key given twice keeps its last value, exactly as a `serde_json::Map`
//!   would. Each entry is written to the output as it comes, its place remembered; at the end
//!   of the object the entries are reordered in place only if they were not already sorted
//!   (each entry out of order rotated into its place; a key given twice takes a stable sort
//!   through a scratch buffer instead). Sorting is what the encoder spends most on, so the
//!   hot types serialize in key order (`EntityRef`, `FieldChange`) and an event's tag is
//!   written where it sorts among its payload's fields.
//! - The encoder's working buffers are kept per thread between events (a few KiB at most).
//! - Every other serde type maps to what `serde_json::to_value` makes of it (`None` and unit
//!   are null, a unit variant is its name, a newtype variant is a one-entry object, non-finite
//!   floats are null, bytes are an array of numbers).
//!
//! Anything the `Value` path would refuse (a map key that is not a string or number, an
//! integer beyond 64 bits) is an [`EncodeError`]; callers then fall back to the `Value` path,
//! so the bytes are the same in every case. A proptest in `tests/roundtrip.rs` checks that.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::ser::{self, Serialize};

use crate::event::Event;

/// For the property tests: the event's wire object as the direct encoder alone writes it,
/// in the canonical encoding and as JSON text, or `None` where it declines (and the callers
/// fall back to the `Value` path).
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub fn direct_encoding_for_tests(event: &Event) -> Option<(Vec<u8>, String)> {
    let mut bytes = Vec::new();
    write::<CanonicalBytes>(&mut bytes, event).ok()?;
    let mut text = Vec::new();
    write::<JsonText>(&mut text, event).ok()?;
    Some((bytes, String::from_utf8(text).ok()?))
}

/// Why the direct encoder gave up; the caller then uses the `Value` path.
#[derive(Debug)]
pub(crate) struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EncodeError(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, EncodeError>;

/// Appends the wire object of `event` to `out` in format `F`. On an error, `out` holds a
/// partial encoding: truncate it before falling back.
pub(crate) fn write<F: Format>(out: &mut Vec<u8>, event: &Event) -> Result {
    // `try_with`: while the thread's locals are torn down (a record written from another
    // local's destructor) there are no spare buffers, only fresh ones.
    let spare = SPARE.try_with(Cell::take).unwrap_or_default();
    let mut enc = Encoder::<F>::with_buffers(out, spare);
    let written = event.encode_wire(&mut enc);
    let spare = enc.into_buffers();
    if spare.capacity() <= SPARE_CAPACITY {
        let _ = SPARE.try_with(|s| s.set(spare));
    }
    written
}

/// The most bytes of working space a thread keeps between events: what a usual event needs
/// many times over, while a one-off megabyte payload does not stay pinned to the thread.
const SPARE_CAPACITY: usize = 64 * 1024;

thread_local! {
    /// The encoder's working space, kept between the events a thread encodes. Allocating
    /// it afresh (and growing the sort buffer entry by entry) was about a fifth of encoding
    /// an event. Taken out while in use, so an encoding nested in another simply starts
    /// with empty buffers.
    static SPARE: Cell<Buffers> = Cell::new(Buffers::default());
}

/// The encoder's working space (see [`Encoder`]'s fields).
#[derive(Debug, Default)]
struct Buffers {
    keys: Vec<u8>,
    spans: Vec<Span>,
    scratch: Vec<u8>,
}

impl Buffers {
    fn capacity(&self) -> usize {
        self.keys.capacity()
            + self.scratch.capacity()
            + self.spans.capacity() * std::mem::size_of::<Span>()
    }
}

fn unsupported(what: &str) -> EncodeError {
    EncodeError(format!("{what} has no direct encoding"))
}

/// How the leaves and containers of one output format are written.
pub(crate) trait Format {
    /// JSON null.
    fn null(out: &mut Vec<u8>);
    /// A boolean.
    fn bool(out: &mut Vec<u8>, v: bool);
    /// A signed integer.
    fn int(out: &mut Vec<u8>, v: i64) -> Result;
    /// An unsigned integer.
    fn uint(out: &mut Vec<u8>, v: u64) -> Result;
    /// A finite float.
    fn float(out: &mut Vec<u8>, v: f64) -> Result;
    /// A string.
    fn str(out: &mut Vec<u8>, s: &str) -> Result;
    /// Opens an array.
    fn begin_seq(out: &mut Vec<u8>);
    /// Before the array element at `index`.
    fn seq_element(out: &mut Vec<u8>, index: usize);
    /// Closes the array opened at `start` with `count` elements.
    fn end_seq(out: &mut Vec<u8>, start: usize, count: usize);
    /// Opens an object.
    fn begin_map(out: &mut Vec<u8>);
    /// Writes the start of an entry, up to its value. An entry's bytes must not depend on
    /// its position: entries are moved when they are sorted.
    fn key(out: &mut Vec<u8>, key: &str) -> Result;
    /// Closes the object opened at `start` with `count` (sorted, distinct) entries.
    fn end_map(out: &mut Vec<u8>, start: usize, count: usize);
}

/// The canonical encoding of [`chain`](crate::chain)'s module docs (`json` there).
pub(crate) enum CanonicalBytes {}

impl CanonicalBytes {
    fn patch_len(out: &mut [u8], at: usize, n: usize) {
        // As `chain::Canonical::len`: saturate rather than wrap.
        let n = u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        if let Some(slot) = out.get_mut(at..at + 4) {
            slot.copy_from_slice(&n);
        }
    }

    fn len(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    }
}

impl Format for CanonicalBytes {
    fn null(out: &mut Vec<u8>) {
        out.push(b'n');
    }
    fn bool(out: &mut Vec<u8>, v: bool) {
        out.push(if v { b't' } else { b'f' });
    }
    fn int(out: &mut Vec<u8>, v: i64) -> Result {
        out.push(b'i');
        out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }
    fn uint(out: &mut Vec<u8>, v: u64) -> Result {
        // A `Value` holds any u64 as a positive integer, which encodes as `i` when it fits.
        match i64::try_from(v) {
            Ok(i) => Self::int(out, i),
            Err(_) => {
                out.push(b'u');
                out.extend_from_slice(&v.to_be_bytes());
                Ok(())
            }
        }
    }
    fn float(out: &mut Vec<u8>, v: f64) -> Result {
        out.push(b'd');
        out.extend_from_slice(&v.to_bits().to_be_bytes());
        Ok(())
    }
    fn str(out: &mut Vec<u8>, s: &str) -> Result {
        out.push(b's');
        Self::len(out, s.len());
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn begin_seq(out: &mut Vec<u8>) {
        // The count is patched in at the end: serde need not say it up front.
        out.extend_from_slice(&[b'a', 0, 0, 0, 0]);
    }
    fn seq_element(_: &mut Vec<u8>, _: usize) {}
    fn end_seq(out: &mut Vec<u8>, start: usize, count: usize) {
        Self::patch_len(out, start + 1, count);
    }
    fn begin_map(out: &mut Vec<u8>) {
        out.extend_from_slice(&[b'o', 0, 0, 0, 0]);
    }
    fn key(out: &mut Vec<u8>, key: &str) -> Result {
        Self::len(out, key.len());
        out.extend_from_slice(key.as_bytes());
        Ok(())
    }
    fn end_map(out: &mut Vec<u8>, start: usize, count: usize) {
        Self::patch_len(out, start + 1, count);
    }
}

/// Compact JSON text, as `serde_json::Value`'s `Display` writes it (leaves are written by
/// `serde_json` itself, so escapes and number forms are its own).
pub(crate) enum JsonText {}

impl JsonText {
    fn leaf<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result {
        v.serialize(&mut serde_json::Serializer::new(out))
            .map_err(|e| EncodeError(e.to_string()))
    }
}

impl Format for JsonText {
    fn null(out: &mut Vec<u8>) {
        out.extend_from_slice(b"null");
    }
    fn bool(out: &mut Vec<u8>, v: bool) {
        out.extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn int(out: &mut Vec<u8>, v: i64) -> Result {
        Self::leaf(out, &v)
    }
    fn uint(out: &mut Vec<u8>, v: u64) -> Result {
        Self::leaf(out, &v)
    }
    fn float(out: &mut Vec<u8>, v: f64) -> Result {
        Self::leaf(out, &v)
    }
    fn str(out: &mut Vec<u8>, s: &str) -> Result {
        Self::leaf(out, s)
    }
    fn begin_seq(out: &mut Vec<u8>) {
        out.push(b'[');
    }
    fn seq_element(out: &mut Vec<u8>, index: usize) {
        if index > 0 {
            out.push(b',');
        }
    }
    fn end_seq(out: &mut Vec<u8>, _: usize, _: usize) {
        out.push(b']');
    }
    fn begin_map(_: &mut Vec<u8>) {
        // Nothing: every entry starts with a comma, and the first entry's comma (after
        // sorting) becomes the opening brace in `end_map`.
    }
    fn key(out: &mut Vec<u8>, key: &str) -> Result {
        out.push(b',');
        Self::str(out, key)?;
        out.push(b':');
        Ok(())
    }
    fn end_map(out: &mut Vec<u8>, start: usize, count: usize) {
        match out.get_mut(start) {
            Some(first) if count > 0 => {
                *first = b'{';
                out.push(b'}');
            }
            _ => out.extend_from_slice(b"{}"),
        }
    }
}

/// The key of an event's tag in its wire object.
const TAG_KEY: &str = "event";

/// Where one object entry's bytes and key sit, to sort it.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    key_start: usize,
    key_end: usize,
}

/// An open object.
#[derive(Debug, Clone, Copy)]
struct MapMark {
    start: usize,
    body_start: usize,
    spans_start: usize,
    keys_start: usize,
    /// The `event` entry to add to this object: the wire object of an event is its payload
    /// struct's fields plus this tag.
    tag: Option<&'static str>,
}

/// An entry whose key is written and whose value comes next.
#[derive(Debug, Clone, Copy)]
struct EntryMark {
    start: usize,
    key_start: usize,
    key_end: usize,
}

/// The serializer: writes one value in format `F` to the end of `out`.
pub(crate) struct Encoder<'o, F> {
    out: &'o mut Vec<u8>,
    /// The raw bytes of the keys of the open objects' entries (the output holds them
    /// escaped or length-prefixed, which does not sort the same).
    keys: Vec<u8>,
    spans: Vec<Span>,
    scratch: Vec<u8>,
    /// The tag for the object that starts at `tag_at`, if any (see [`Encoder::event`]).
    pending_tag: Option<(&'static str, usize)>,
    format: PhantomData<F>,
}

impl<'o, F: Format> Encoder<'o, F> {
    #[cfg(test)]
    fn new(out: &'o mut Vec<u8>) -> Self {
        Self::with_buffers(out, Buffers::default())
    }

    fn with_buffers(out: &'o mut Vec<u8>, b: Buffers) -> Self {
        let Buffers {
            mut keys,
            mut spans,
            mut scratch,
        } = b;
        keys.clear();
        spans.clear();
        scratch.clear();
        Encoder {
            out,
            keys,
            spans,
            scratch,
            pending_tag: None,
            format: PhantomData,
        }
    }

    fn into_buffers(self) -> Buffers {
        Buffers {
            keys: self.keys,
            spans: self.spans,
            scratch: self.scratch,
        }
    }

    /// Writes the wire object of an event: `body`'s fields plus `"event": tag`, as
    /// `Event::to_value` builds it (the tag replaces a field of the same name).
    pub(crate) fn event<T: Serialize + ?Sized>(&mut self, tag: &'static str, body: &T) -> Result {
        self.pending_tag = Some((tag, self.out.len()));
        body.serialize(&mut *self)?;
        if self.pending_tag.take().is_some() {
            // The payload was not an object; `to_value` then keeps the tag alone. Leave
            // such a case to the `Value` path rather than mirror it.
            return Err(unsupported("an event payload that is not an object"));
        }
        Ok(())
    }

    fn begin_map(&mut self) -> MapMark {
        let start = self.out.len();
        // Only the object that starts right where the event starts gets the tag, not one
        // nested in a payload that is not itself an object.
        let tag = match self.pending_tag {
            Some((tag, at)) if at == start => {
                self.pending_tag = None;
                Some(tag)
            }
            _ => None,
        };
        F::begin_map(self.out);
        MapMark {
            start,
            body_start: self.out.len(),
            spans_start: self.spans.len(),
            keys_start: self.keys.len(),
            tag,
        }
    }

    fn begin_entry(&mut self, key: &str) -> Result<EntryMark> {
        let start = self.out.len();
        let key_start = self.keys.len();
        self.keys.extend_from_slice(key.as_bytes());
        F::key(self.out, key)?;
        Ok(EntryMark {
            start,
            key_start,
            key_end: self.keys.len(),
        })
    }

    fn end_entry(&mut self, e: EntryMark) {
        self.spans.push(Span {
            start: e.start,
            end: self.out.len(),
            key_start: e.key_start,
            key_end: e.key_end,
        });
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        let e = self.begin_entry(key)?;
        value.serialize(&mut *self)?;
        self.end_entry(e);
        Ok(())
    }

    fn end_map(&mut self, m: MapMark) -> Result {
        if let Some(tag) = m.tag {
            // Last (if not yet written in its place), so that it wins over a payload field
            // of the same name.
            let e = self.begin_entry(TAG_KEY)?;
            F::str(self.out, tag)?;
            self.end_entry(e);
        }
        let Encoder {
            out,
            keys,
            spans,
            scratch,
            ..
        } = self;
        let entries = &mut spans[m.spans_start..];
        let key = |s: &Span| &keys[s.key_start..s.key_end];
        let mut count = entries.len();
        if !entries.windows(2).all(|w| key(&w[0]) < key(&w[1]))
            && !sort_in_place(out, keys, entries)
        {
            // Keys given twice: the general way, which keeps the last of equal keys.
            // Stable, so that of equal keys the one given last ends up last and is kept.
            entries.sort_by(|a, b| key(a).cmp(key(b)));
            scratch.clear();
            count = 0;
            for (i, s) in entries.iter().enumerate() {
                if entries.get(i + 1).is_some_and(|next| key(next) == key(s)) {
                    continue;
                }
                scratch.extend_from_slice(&out[s.start..s.end]);
                count += 1;
            }
            out.truncate(m.body_start);
            out.extend_from_slice(scratch);
        }
        spans.truncate(m.spans_start);
        keys.truncate(m.keys_start);
        F::end_map(out, m.start, count);
        Ok(())
    }

    fn str(&mut self, s: &str) -> Result {
        F::str(self.out, s)
    }
}

/// Sorts an object's entries (contiguous in `out`, in the order of `entries`) by key, in
/// place: each entry out of order is rotated into its place among those before it, moving
/// only the bytes it passes, with no copy of the whole object. Returns `false`, having
/// sorted part of them, at the first key given twice (the entries are then still in their
/// given order among equal keys, so a stable sort can finish the job).
///
/// The structs of the vocabulary name their fields in reading order, not key order (a
/// reference's `id` before its `display`), so nearly every object of an event passes here.
fn sort_in_place(out: &mut [u8], keys: &[u8], entries: &mut [Span]) -> bool {
    let key = |s: &Span| &keys[s.key_start..s.key_end];
    for i in 1..entries.len() {
        let moving = entries[i];
        let place = entries[..i].partition_point(|s| key(s) < key(&moving));
        if place == i {
            continue;
        }
        if key(&entries[place]) == key(&moving) {
            return false;
        }
        let len = moving.end - moving.start;
        let from = entries[place].start;
        out[from..moving.end].rotate_right(len);
        for s in &mut entries[place..i] {
            s.start += len;
            s.end += len;
        }
        entries[place..=i].rotate_right(1);
        entries[place] = Span {
            start: from,
            end: from + len,
            ..moving
        };
    }
    true
}

/// An open array.
pub(crate) struct SeqState<'e, 'o, F> {
    enc: &'e mut Encoder<'o, F>,
    start: usize,
    count: usize,
    /// For a tuple variant: the object and entry around the array.
    outer: Option<(MapMark, EntryMark)>,
}

impl<F: Format> SeqState<'_, '_, F> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        F::seq_element(self.enc.out, self.count);
        v.serialize(&mut *self.enc)?;
        self.count += 1;
        Ok(())
    }

    fn finish(self) -> Result {
        F::end_seq(self.enc.out, self.start, self.count);
        if let Some((map, entry)) = self.outer {
            self.enc.end_entry(entry);
            self.enc.end_map(map)?;
        }
        Ok(())
    }
}

/// An open object (map, struct or struct variant).
pub(crate) struct MapState<'e, 'o, F> {
    enc: &'e mut Encoder<'o, F>,
    map: MapMark,
    /// The object is an event's: it gets the tag, whether or not it is written yet.
    tagged: bool,
    key: Option<EntryMark>,
    /// For a struct variant: the object and entry around this one.
    outer: Option<(MapMark, EntryMark)>,
}

impl<F: Format> MapState<'_, '_, F> {
    fn finish(self) -> Result {
        self.enc.end_map(self.map)?;
        if let Some((map, entry)) = self.outer {
            self.enc.end_entry(entry);
            self.enc.end_map(map)?;
        }
        Ok(())
    }
}

impl<'e, 'o, F: Format> ser::Serializer for &'e mut Encoder<'o, F> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = SeqState<'e, 'o, F>;
    type SerializeTuple = SeqState<'e, 'o, F>;
    type SerializeTupleStruct = SeqState<'e, 'o, F>;
    type SerializeTupleVariant = SeqState<'e, 'o, F>;
    type SerializeMap = MapState<'e, 'o, F>;
    type SerializeStruct = MapState<'e, 'o, F>;
    type SerializeStructVariant = MapState<'e, 'o, F>;

    fn serialize_bool(self, v: bool) -> Result {
        F::bool(self.out, v);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        F::int(self.out, v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        F::int(self.out, v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        F::int(self.out, v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        F::int(self.out, v)
    }
    fn serialize_i128(self, v: i128) -> Result {
        // As serde_json's `Value` serializer: u64 first, then i64, else out of range.
        if let Ok(u) = u64::try_from(v) {
            F::uint(self.out, u)
        } else if let Ok(i) = i64::try_from(v) {
            F::int(self.out, i)
        } else {
            Err(unsupported("an integer beyond 64 bits"))
        }
    }
    fn serialize_u8(self, v: u8) -> Result {
        F::uint(self.out, v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        F::uint(self.out, v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        F::uint(self.out, v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        F::uint(self.out, v)
    }
    fn serialize_u128(self, v: u128) -> Result {
        match u64::try_from(v) {
            Ok(u) => F::uint(self.out, u),
            Err(_) => Err(unsupported("an integer beyond 64 bits")),
        }
    }
    fn serialize_f32(self, v: f32) -> Result {
        // A `Value` keeps an f32 as the f64 it converts to.
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result {
        // A `Value` cannot hold NaN or an infinity: it makes them null.
        if v.is_finite() {
            F::float(self.out, v)
        } else {
            F::null(self.out);
            Ok(())
        }
    }
    fn serialize_char(self, v: char) -> Result {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result {
        F::null(self.out);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        F::null(self.out);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        F::null(self.out);
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result {
        let m = self.begin_map();
        self.entry(variant, v)?;
        self.end_map(m)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        let start = self.out.len();
        F::begin_seq(self.out);
        Ok(SeqState {
            enc: self,
            start,
            count: 0,
            outer: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        let map = self.begin_map();
        let entry = self.begin_entry(variant)?;
        let start = self.out.len();
        F::begin_seq(self.out);
        Ok(SeqState {
            enc: self,
            start,
            count: 0,
            outer: Some((map, entry)),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        let map = self.begin_map();
        Ok(MapState {
            enc: self,
            tagged: map.tag.is_some(),
            map,
            key: None,
            outer: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        let outer_map = self.begin_map();
        let entry = self.begin_entry(variant)?;
        let map = self.begin_map();
        Ok(MapState {
            enc: self,
            tagged: map.tag.is_some(),
            map,
            key: None,
            outer: Some((outer_map, entry)),
        })
    }
}

macro_rules! seq_impls {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<F: Format> ser::$trait for SeqState<'_, '_, F> {
            type Ok = ();
            type Error = EncodeError;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
                self.element(v)
            }
            fn end(self) -> Result {
                self.finish()
            }
        }
    )*};
}
seq_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<F: Format> ser::SerializeMap for MapState<'_, '_, F> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.key = Some(key.serialize(KeyWriter(&mut *self.enc))?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        let e = self
            .key
            .take()
            .ok_or_else(|| unsupported("a map value without a key"))?;
        v.serialize(&mut *self.enc)?;
        self.enc.end_entry(e);
        Ok(())
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl<F: Format> ser::SerializeStruct for MapState<'_, '_, F> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result {
        if self.tagged && key == TAG_KEY {
            // The tag must win over a payload field of its name, written before it or after;
            // leave that to the `Value` path rather than mirror it.
            return Err(unsupported("a payload field named `event`"));
        }
        if let Some(tag) = self.map.tag {
            // An event's tag goes in where it sorts, so that a payload whose fields come in
            // key order needs no sorting.
            if key.as_bytes() > TAG_KEY.as_bytes() {
                self.enc.entry(TAG_KEY, tag)?;
                self.map.tag = None;
            }
        }
        self.enc.entry(key, v)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl<F: Format> ser::SerializeStructVariant for MapState<'_, '_, F> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result {
        self.enc.entry(key, v)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

/// Writes a map key, as serde_json's `Value` serializer takes keys: strings as they are,
/// booleans, integers and unit variants as their text; anything else is refused (floats
/// too, which serde_json prints with a formatter of its own).
struct KeyWriter<'e, 'o, F>(&'e mut Encoder<'o, F>);

impl<F: Format> KeyWriter<'_, '_, F> {
    fn text(self, key: &str) -> Result<EntryMark> {
        self.0.begin_entry(key)
    }
}

impl<F: Format> ser::Serializer for KeyWriter<'_, '_, F> {
    type Ok = EntryMark;
    type Error = EncodeError;
    type SerializeSeq = ser::Impossible<EntryMark, EncodeError>;
    type SerializeTuple = ser::Impossible<EntryMark, EncodeError>;
    type SerializeTupleStruct = ser::Impossible<EntryMark, EncodeError>;
    type SerializeTupleVariant = ser::Impossible<EntryMark, EncodeError>;
    type SerializeMap = ser::Impossible<EntryMark, EncodeError>;
    type SerializeStruct = ser::Impossible<EntryMark, EncodeError>;
    type SerializeStructVariant = ser::Impossible<EntryMark, EncodeError>;

    fn serialize_bool(self, v: bool) -> Result<EntryMark> {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<EntryMark> {
        self.text(&v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<EntryMark> {
        Err(unsupported("a float map key"))
    }
    fn serialize_f64(self, _: f64) -> Result<EntryMark> {
        Err(unsupported("a float map key"))
    }
    fn serialize_char(self, v: char) -> Result<EntryMark> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<EntryMark> {
        self.text(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<EntryMark> {
        Err(unsupported("a byte-string map key"))
    }
    fn serialize_none(self) -> Result<EntryMark> {
        Err(unsupported("a null map key"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<EntryMark> {
        Err(unsupported("an optional map key"))
    }
    fn serialize_unit(self) -> Result<EntryMark> {
        Err(unsupported("a unit map key"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<EntryMark> {
        Err(unsupported("a unit map key"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<EntryMark> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<EntryMark> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<EntryMark> {
        Err(unsupported("a variant map key"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(unsupported("a sequence map key"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(unsupported("a tuple map key"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(unsupported("a tuple map key"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(unsupported("a variant map key"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(unsupported("a map map key"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(unsupported("a struct map key"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(unsupported("a variant map key"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;
    use crate::canonical::Canonical;

    fn direct<T: Serialize + ?Sized>(v: &T) -> Result<(Vec<u8>, String)> {
        let mut bytes = Vec::new();
        v.serialize(&mut Encoder::<CanonicalBytes>::new(&mut bytes))?;
        let mut text = Vec::new();
        v.serialize(&mut Encoder::<JsonText>::new(&mut text))?;
        Ok((bytes, String::from_utf8(text).unwrap()))
    }

    fn via_value(v: &Value) -> (Vec<u8>, String) {
        let mut c = Canonical::default();
        c.json(v);
        (c.into_bytes(), v.to_string())
    }

    /// The direct encoding of `v` equals the encoding of its `Value`.
    fn assert_same<T: Serialize + ?Sized>(v: &T) {
        let value = serde_json::to_value(v).unwrap();
        assert_eq!(direct(v).unwrap(), via_value(&value), "{value}");
    }

    #[derive(Serialize)]
    enum Shapes {
        Unit,
        Newtype(u8),
        Tuple(i32, &'static str),
        Struct { z: bool, a: Option<()> },
    }

    #[derive(Serialize)]
    struct Unsorted<'a> {
        zeta: u64,
        alpha: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        mid: Vec<Shapes>,
        #[serde(with = "serde_bytes_like")]
        bytes: &'a [u8],
        nested: BTreeMap<String, Unsorted2>,
    }

    #[derive(Serialize)]
    struct Unsorted2 {
        b: f64,
        a: f32,
        c: i128,
        d: u128,
        e: char,
    }

    /// Calls `serialize_bytes`, which derived impls of `&[u8]` do not.
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b)
        }
    }

    #[test]
    fn every_serde_shape_encodes_as_its_value() {
        let mut nested = BTreeMap::new();
        for (k, b) in [
            ("é", 1.5),
            ("e", f64::NAN),
            ("", f64::INFINITY),
            ("z", -0.0),
        ] {
            nested.insert(
                k.to_owned(),
                Unsorted2 {
                    b,
                    a: 0.1,
                    c: -5,
                    d: u128::from(u64::MAX),
                    e: '\u{1F600}',
                },
            );
        }
        assert_same(&Unsorted {
            zeta: u64::MAX,
            alpha: "a\"\\\u{1}\u{2028}",
            skipped: None,
            mid: vec![
                Shapes::Unit,
                Shapes::Newtype(7),
                Shapes::Tuple(-1, "x"),
                Shapes::Struct { z: true, a: None },
            ],
            bytes: &[0, 255],
            nested,
        });
        assert_same(&Vec::<u8>::new());
        assert_same(&BTreeMap::<String, u8>::new());
        assert_same(&Shapes::Struct {
            z: false,
            a: Some(()),
        });
    }

    #[test]
    fn non_string_keys_become_text_as_in_a_value() {
        let ints: BTreeMap<i64, &str> = [(-3, "a"), (10, "b"), (2, "c")].into();
        assert_same(&ints);
        let bools: BTreeMap<bool, u8> = [(true, 1), (false, 0)].into();
        assert_same(&bools);
    }

    #[test]
    fn what_a_value_refuses_is_refused() {
        assert!(direct(&i128::MIN).is_err());
        assert!(direct(&u128::MAX).is_err());
        // serde_json prints float keys its own way: left to the `Value` path.
        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_map([(1.5f64, 1u8)])
            }
        }
        assert!(direct(&FloatKeys).is_err());
        assert!(serde_json::to_value(&FloatKeys).is_ok());
        #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
        struct K(Vec<u8>);
        let seq_keys: BTreeMap<K, u8> = [(K(vec![1]), 1)].into();
        assert!(direct(&seq_keys).is_err());
        assert!(serde_json::to_value(&seq_keys).is_err());
    }

    /// A serializer may give a key twice; a `Value` keeps the last.
    struct Duplicates;

    impl Serialize for Duplicates {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("b", &1)?;
            m.serialize_entry("a", &2)?;
            m.serialize_entry("b", &3)?;
            m.serialize_entry("a", &[4])?;
            m.serialize_entry("c", &5)?;
            m.end()
        }
    }

    /// The same key twice in a row, which looks sorted but for the repeat.
    struct Repeated;

    impl Serialize for Repeated {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_map([("a", 1), ("a", 2), ("b", 3)])
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        assert_same(&Duplicates);
        assert_eq!(direct(&Duplicates).unwrap().1, r#"{"a":[4],"b":3,"c":5}"#);
        assert_same(&Repeated);
        assert_eq!(direct(&Repeated).unwrap().1, r#"{"a":2,"b":3}"#);
    }

    /// An object whose entries come in the order given, repeats included, as a host's own
    /// `Serialize` impl may write them.
    #[derive(Debug, Clone)]
    struct Entries(Vec<(String, Nested)>);

    #[derive(Debug, Clone)]
    enum Nested {
        Leaf(u8),
        Text(String),
        Object(Entries),
    }

    impl Serialize for Entries {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            match self {
                Nested::Leaf(n) => s.serialize_u8(*n),
                Nested::Text(t) => s.serialize_str(t),
                Nested::Object(e) => e.serialize(s),
            }
        }
    }

    fn entries() -> impl proptest::strategy::Strategy<Value = Entries> {
        use proptest::prelude::*;
        let key = "[a-e]{0,3}|é|\\\"|z{1,2}";
        let leaf = prop_oneof![
            any::<u8>().prop_map(Nested::Leaf),
            "[ -~]{0,12}".prop_map(Nested::Text)
        ];
        let nested = leaf.prop_recursive(3, 24, 6, move |inner| {
            proptest::collection::vec((key, inner), 0..7).prop_map(|e| Nested::Object(Entries(e)))
        });
        proptest::collection::vec((key, nested), 0..9).prop_map(Entries)
    }

    proptest::proptest! {
        /// Objects whose entries come in any order, with keys given twice or more, at any
        /// depth: the in-place sort (and the general one it falls back to on a repeat)
        /// writes the same bytes as the `Value` path, which sorts and keeps the last of
        /// equal keys.
        #[test]
        fn objects_in_any_order_encode_as_their_value(e in entries()) {
            let value = serde_json::to_value(&e).unwrap();
            proptest::prop_assert_eq!(direct(&e).unwrap(), via_value(&value), "{}", value);
        }
    }

    fn event<T: Serialize + ?Sized>(tag: &'static str, body: &T) -> Result<(Vec<u8>, String)> {
        let mut bytes = Vec::new();
        Encoder::<CanonicalBytes>::new(&mut bytes).event(tag, body)?;
        let mut text = Vec::new();
        Encoder::<JsonText>::new(&mut text).event(tag, body)?;
        Ok((bytes, String::from_utf8(text).unwrap()))
    }

    #[test]
    fn the_event_tag_joins_the_payload_object_and_wins_over_a_field_of_its_name() {
        let body = json!({"z": {"y": 1}, "event": "spoofed", "a": [{"q": 1, "p": 2}]});
        let expected = json!({"z": {"y": 1}, "event": "user.created", "a": [{"q": 1, "p": 2}]});
        assert_eq!(event("user.created", &body).unwrap(), via_value(&expected));
        let empty = json!({});
        assert_eq!(
            event("x.y", &empty).unwrap(),
            via_value(&json!({"event": "x.y"}))
        );
    }

    /// A struct payload gets the tag where it sorts, whatever order its fields come in; a
    /// struct with a field of the tag's name is left to the `Value` path, which lets the tag
    /// win.
    #[test]
    fn the_event_tag_sorts_into_a_struct_payload() {
        #[derive(Serialize)]
        struct InOrder {
            alpha: u8,
            during: Vec<u8>,
            zulu: &'static str,
        }
        #[derive(Serialize)]
        struct OutOfOrder {
            zulu: &'static str,
            alpha: u8,
        }
        #[derive(Serialize)]
        struct AllAfter {
            group: u8,
            parent: u8,
        }
        #[derive(Serialize)]
        struct Spoofing {
            alpha: u8,
            event: &'static str,
        }
        #[derive(Serialize)]
        struct LateSpoofing {
            zulu: u8,
            event: &'static str,
        }
        let in_order = InOrder {
            alpha: 1,
            during: vec![2],
            zulu: "z",
        };
        assert_eq!(
            event("x.y", &in_order).unwrap(),
            via_value(&json!({"alpha": 1, "during": [2], "event": "x.y", "zulu": "z"}))
        );
        assert_eq!(
            event(
                "x.y",
                &OutOfOrder {
                    zulu: "z",
                    alpha: 1
                }
            )
            .unwrap(),
            via_value(&json!({"alpha": 1, "event": "x.y", "zulu": "z"}))
        );
        assert_eq!(
            event(
                "x.y",
                &AllAfter {
                    group: 1,
                    parent: 2
                }
            )
            .unwrap(),
            via_value(&json!({"event": "x.y", "group": 1, "parent": 2}))
        );
        assert!(event(
            "x.y",
            &Spoofing {
                alpha: 1,
                event: "no"
            }
        )
        .is_err());
        // Its tag is written already (before `zulu`) when the field comes.
        assert!(event(
            "x.y",
            &LateSpoofing {
                zulu: 1,
                event: "no"
            }
        )
        .is_err());
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_left_to_the_value_path() {
        assert!(event("x.y", &5).is_err());
        assert!(event("x.y", &[json!({"a": 1})]).is_err());
        assert!(event("x.y", &Shapes::Unit).is_err());
    }
}
