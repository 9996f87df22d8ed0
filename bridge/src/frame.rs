//! The wire frame: what one JetStream message of the bridge carries.
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | version (`1`) |
//! | 1 | kind: `0` message, `1` close, `2` resume |
//! | 8 | sequence number in its direction, little-endian, from 1 |
//! | 2 | length of the sender's origin, little-endian |
//! | n | the sender's origin, ASCII serialization (`https://app.example`, `null`) |
//! | rest | a message's serialized record ([`SerializedRecord::as_bytes`]); empty for close; for resume, 8 bytes little-endian: the number the void range starts after |
//!
//! A resume frame is the first frame of a restarted sender whose predecessor died with a
//! hole in what it had stored (see [`crate::seq::resume_point`]): every number after
//! `after` and before the resume frame's own is void.
//!
//! The bytes come from the network: [`Frame::decode`] never panics and fails with
//! `DataCloneError` on anything malformed.

use webmessaging_core::clone::SerializedRecord;
use webmessaging_core::{Error, Result};

/// The only frame version this bridge writes and reads.
pub const VERSION: u8 = 1;

const HEADER: usize = 1 + 1 + 8 + 2;

/// What a frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameBody {
    /// A posted message: its serialized record's bytes.
    Message(Vec<u8>),
    /// The sending end was closed; nothing follows in this direction.
    Close,
    /// A restarted sender's first frame: the numbers after `after` and before this
    /// frame's are void (its predecessor died before all of them were stored).
    Resume {
        /// The last number before the void range.
        after: u64,
    },
}

/// One frame of one direction of a bridged port, or of one sender of a bridged
/// BroadcastChannel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The sender's sequence number in this direction (from 1, no gaps).
    pub seq: u64,
    /// The origin the sending side claims for the realm that posted (checked by the
    /// receiving side against what it admits).
    pub origin: String,
    /// The message or the close.
    pub body: FrameBody,
}

impl Frame {
    /// A message frame.
    pub fn message(seq: u64, origin: &str, record: &SerializedRecord) -> Frame {
        Frame {
            seq,
            origin: origin.to_owned(),
            body: FrameBody::Message(record.as_bytes().to_vec()),
        }
    }

    /// The bytes on the wire.
    ///
    /// # Errors
    /// `DataCloneError` if the origin is longer than 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let origin = self.origin.as_bytes();
        let origin_len = u16::try_from(origin.len())
            .map_err(|_| Error::data_clone("bridge frame: origin longer than 65535 bytes"))?;
        let resume;
        let payload: &[u8] = match &self.body {
            FrameBody::Message(bytes) => bytes,
            FrameBody::Close => &[],
            FrameBody::Resume { after } => {
                resume = after.to_le_bytes();
                &resume
            }
        };
        let mut out = Vec::with_capacity(HEADER + origin.len() + payload.len());
        out.push(VERSION);
        out.push(match self.body {
            FrameBody::Message(_) => 0,
            FrameBody::Close => 1,
            FrameBody::Resume { .. } => 2,
        });
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&origin_len.to_le_bytes());
        out.extend_from_slice(origin);
        out.extend_from_slice(payload);
        Ok(out)
    }

    /// Reads a frame from untrusted bytes.
    ///
    /// # Errors
    /// `DataCloneError` for a short buffer, another version, an unknown kind, a zero
    /// sequence number, an origin that is not ASCII, a close with a payload, or a resume
    /// whose payload is not 8 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Frame> {
        if bytes.len() < HEADER {
            return Err(Error::data_clone("bridge frame: shorter than its header"));
        }
        if bytes[0] != VERSION {
            return Err(Error::data_clone(format!(
                "bridge frame: version {} (this bridge reads {VERSION})",
                bytes[0]
            )));
        }
        let kind = bytes[1];
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[2..10]);
        let seq = u64::from_le_bytes(seq);
        if seq == 0 {
            return Err(Error::data_clone("bridge frame: sequence number 0"));
        }
        let origin_len = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
        let rest = &bytes[HEADER..];
        if rest.len() < origin_len {
            return Err(Error::data_clone("bridge frame: origin runs past the end"));
        }
        let (origin, payload) = rest.split_at(origin_len);
        if !origin.is_ascii() {
            return Err(Error::data_clone("bridge frame: origin is not ASCII"));
        }
        let origin = String::from_utf8_lossy(origin).into_owned();
        let body = match kind {
            0 => FrameBody::Message(payload.to_vec()),
            1 if payload.is_empty() => FrameBody::Close,
            1 => return Err(Error::data_clone("bridge frame: a close with a payload")),
            2 => match <[u8; 8]>::try_from(payload) {
                Ok(after) => FrameBody::Resume {
                    after: u64::from_le_bytes(after),
                },
                Err(_) => {
                    return Err(Error::data_clone(
                        "bridge frame: a resume of the wrong length",
                    ))
                }
            },
            k => return Err(Error::data_clone(format!("bridge frame: unknown kind {k}"))),
        };
        Ok(Frame { seq, origin, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use webmessaging_core::ExceptionName;

    #[test]
    fn a_message_and_a_close_round_trip() {
        let record = SerializedRecord::from_bytes(vec![9, 8, 7]);
        let f = Frame::message(3, "https://app.example", &record);
        let bytes = f.encode().unwrap();
        assert_eq!(bytes.len(), HEADER + 19 + 3);
        assert_eq!(Frame::decode(&bytes).unwrap(), f);
        let c = Frame {
            seq: u64::MAX,
            origin: "null".into(),
            body: FrameBody::Close,
        };
        assert_eq!(Frame::decode(&c.encode().unwrap()).unwrap(), c);
        let r = Frame {
            seq: 9,
            origin: "null".into(),
            body: FrameBody::Resume { after: 4 },
        };
        assert_eq!(Frame::decode(&r.encode().unwrap()).unwrap(), r);
        let mut short = r.encode().unwrap();
        short.pop();
        assert!(Frame::decode(&short).is_err());
    }

    #[test]
    fn malformed_frames_are_data_clone_errors() {
        let good = Frame::message(
            1,
            "https://a.example",
            &SerializedRecord::from_bytes(vec![1]),
        )
        .encode()
        .unwrap();
        let mut cases: Vec<Vec<u8>> = vec![vec![], good[..HEADER - 1].to_vec()];
        let mut v2 = good.clone();
        v2[0] = 2;
        cases.push(v2);
        let mut kind = good.clone();
        kind[1] = 7;
        cases.push(kind);
        let mut zero = good.clone();
        zero[2..10].copy_from_slice(&[0; 8]);
        cases.push(zero);
        let mut long = good.clone();
        long[10] = 0xff;
        cases.push(long);
        let mut close_with_payload = good.clone();
        close_with_payload[1] = 1;
        cases.push(close_with_payload);
        let mut non_ascii = good.clone();
        non_ascii[HEADER] = 0xc3;
        cases.push(non_ascii);
        for bytes in cases {
            let err = Frame::decode(&bytes).unwrap_err();
            assert_eq!(err.name(), ExceptionName::DataCloneError, "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::decode(&bytes);
        }

        #[test]
        fn decode_inverts_encode(
            seq in 1u64..,
            origin in "[ -~]{0,40}",
            payload in proptest::collection::vec(any::<u8>(), 0..100),
            kind in 0u8..3,
            after in any::<u64>(),
        ) {
            let body = match kind {
                0 => FrameBody::Message(payload),
                1 => FrameBody::Close,
                _ => FrameBody::Resume { after },
            };
            let f = Frame { seq, origin, body };
            prop_assert_eq!(Frame::decode(&f.encode().unwrap()).unwrap(), f);
        }

        #[test]
        fn a_corrupted_frame_decodes_or_fails_cleanly(
            seq in 1u64..,
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let f = Frame { seq, origin: "https://x.example".into(), body: FrameBody::Message(payload) };
            let mut bytes = f.encode().unwrap();
            for (i, b) in flips {
                let n = bytes.len();
                bytes[i % n] ^= b;
            }
            if let Err(e) = Frame::decode(&bytes) {
                prop_assert_eq!(e.name(), ExceptionName::DataCloneError);
            }
        }
    }
}
